"""JSON shape of a replacement key's shipment, as the customer's order detail carries it (mobile masked)."""

from __future__ import annotations

from marshmallow import Schema, fields


class TrackingEventSchema(Schema):
    time = fields.DateTime()
    context = fields.String()


class ShipmentSchema(Schema):
    recipient = fields.String()
    mobile_masked = fields.String()
    address = fields.String()
    carrier = fields.String(allow_none=True, metadata={"description": "快递100 carrier code"})
    carrier_name = fields.String(allow_none=True)
    waybill_no = fields.String(allow_none=True)
    shipped_at = fields.DateTime(allow_none=True)
    state = fields.Integer(allow_none=True,
                           metadata={"description": "the carrier's state: 0 在途, 1 揽收, 3 签收, 6 退回…"})
    state_label = fields.String()
    signed_at = fields.DateTime(allow_none=True)
    events = fields.List(fields.Nested(TrackingEventSchema), metadata={"description": "newest first"})

"""JSON shapes of quotes, 受理单 and 待办事项."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from wxbackend.orders import service as orders
from wxbackend.shipping import service as shipping
from wxbackend.shipping.schemas import ShipmentSchema
from wxbackend.web.bounds import Id, Int32


class QuoteQuerySchema(Schema):
    years = Int32(load_default=1, validate=validate.Range(1, 5))
    app_id = Id(load_default=None)


class EligibilitySchema(Schema):
    code = fields.String()
    message = fields.String()
    renewable = fields.Boolean()
    path = fields.String(allow_none=True)
    opens_at = fields.DateTime(allow_none=True)


class QuoteSchema(Schema):
    eligibility = fields.Nested(EligibilitySchema)
    years = fields.Integer()
    amount_fen = fields.Integer()
    fee_detail = fields.String()
    old_not_after = fields.DateTime()
    new_not_after = fields.DateTime()


class OrderCreateSchema(Schema):
    certificate_id = Id(required=True)
    years = Int32(required=True, validate=validate.Range(1, 5))
    app_id = Id(load_default=None, allow_none=True)
    shown_amount_fen = Int32(load_default=None, allow_none=True, metadata={
        "description": "the amount (fen) the user was shown; when given, the order is created only for that amount"})


class OrderEventSchema(Schema):
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    note = fields.String()
    at = fields.DateTime()


class StepSchema(Schema):
    title = fields.String()
    done = fields.Boolean()
    at = fields.DateTime(allow_none=True)
    note = fields.String()


class OrderSchema(Schema):
    id = fields.Integer()
    order_no = fields.String()
    kind = fields.String()
    kind_label = fields.String()
    subject = fields.String(metadata={"description": "证书名称"})
    certificate_id = fields.Integer()
    cert_app_id = fields.Integer(allow_none=True)
    years = fields.Integer()
    amount_fen = fields.Integer()
    fee_detail = fields.String()
    status = fields.String()
    status_label = fields.String()
    path = fields.String()
    new_not_after = fields.DateTime()
    pay_channel = fields.String(allow_none=True)
    created_at = fields.DateTime()
    paid_at = fields.DateTime(allow_none=True)


class OrderDetailSchema(OrderSchema):
    events = fields.List(fields.Nested(OrderEventSchema))
    steps = fields.Method("get_steps")

    shipment = fields.Method("get_shipment", metadata={"description": "补办介质: recipient, waybill, tracking"})

    def get_steps(self, order):
        return StepSchema(many=True).dump(orders.timeline(order))

    def get_shipment(self, order):
        view = shipping.shipment_view(order)
        return ShipmentSchema().dump(view) if view is not None else None


class TodoSchema(Schema):
    title = fields.String()
    detail = fields.String()
    link = fields.String()


class GroupItemSchema(Schema):
    certificate_id = Id(required=True)
    years = Int32(load_default=1, validate=validate.Range(1, 5))


class GroupQuoteRequestSchema(Schema):
    items = fields.List(fields.Nested(GroupItemSchema), required=True,
                        validate=validate.Length(orders.BATCH_MIN, orders.BATCH_MAX),
                        metadata={"description": "the certificates renewed together, each once, with its years"})


class GroupCreateSchema(GroupQuoteRequestSchema):
    shown_amount_fen = Int32(load_default=None, allow_none=True, metadata={
        "description": "the total (fen) the user was shown; when given, the group is created only for that total"})


class GroupQuoteItemSchema(QuoteSchema):
    certificate_id = fields.Function(lambda item: item.certificate.id)
    organisation = fields.Function(lambda item: item.certificate.subject_o)


class GroupQuoteSchema(Schema):
    items = fields.List(fields.Nested(GroupQuoteItemSchema))
    amount_fen = fields.Integer(metadata={"description": "the sum of the items: exactly what is charged"})


class GroupSchema(Schema):
    id = fields.Integer()
    group_no = fields.String()
    amount_fen = fields.Integer()
    status = fields.String(metadata={"description": "pending_payment | paid | cancelled"})
    status_label = fields.String()
    pay_channel = fields.String(allow_none=True)
    created_at = fields.DateTime()
    paid_at = fields.DateTime(allow_none=True)
    orders = fields.List(fields.Nested(OrderSchema))

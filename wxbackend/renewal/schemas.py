"""JSON shapes of renewal on the PC (DESIGN §5)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class RenewStartRequestSchema(Schema):
    certificate = fields.String(required=True, validate=validate.Length(max=20000))
    key_ids = fields.List(fields.String(validate=validate.Length(max=128)), load_default=list,
                          validate=validate.Length(max=64), metadata={"description": "public-key CKA_IDs on the key"})
    order_no = fields.String(load_default=None, validate=validate.Length(max=32))
    group_no = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32),
                             metadata={"description": "批量续期: the group whose order for this key is written"})
    helper_version = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32),
                                   metadata={"description": "the helper's version as the page read it (\"\" when "
                                                            "the helper reported none); older than "
                                                            "HELPER_MIN_VERSION is refused", "example": "1.0.0"})


class RenewOrderSchema(Schema):
    order_no = fields.String()
    organisation = fields.Function(lambda order: order.certificate.subject_o)
    years = fields.Integer()
    amount_yuan = fields.String()
    old_not_after = fields.DateTime()
    new_not_after = fields.DateTime()
    status = fields.String()
    status_label = fields.String()


class RenewStepSchema(Schema):
    mode = fields.String(metadata={"description": "keygen | install"})
    order = fields.Nested(RenewOrderSchema)
    ticket = fields.String()
    ticket_id = fields.String()
    certificate_pem = fields.String(allow_none=True)
    chain_pem = fields.List(fields.String(), allow_none=True)


class RenewIssueRequestSchema(Schema):
    ticket_id = fields.String(required=True, validate=validate.Length(max=64))
    old_signature = fields.String(required=True, validate=validate.Length(max=2048))
    csr = fields.String(required=True, validate=validate.Length(max=10000))


class RenewConfirmRequestSchema(Schema):
    ticket_id = fields.String(required=True, validate=validate.Length(max=64))
    signature = fields.String(required=True, validate=validate.Length(max=2048))


class RenewConfirmedSchema(Schema):
    order = fields.Nested(RenewOrderSchema)
    serial = fields.Function(lambda done: done.certificate.serial)
    not_after = fields.Function(lambda done: done.certificate.not_after.isoformat())
    cleanup_ticket = fields.String()


class RenewGroupKeySchema(Schema):
    order_no = fields.Function(lambda key: key.order.order_no)
    organisation = fields.String()
    serial_tail = fields.String(metadata={"description": "the last 6 characters of the certificate's serial"})
    medium_last4 = fields.String()
    status = fields.String()
    status_label = fields.String(metadata={"description": "待写入 / 已写入 …"})


class RenewGroupSchema(Schema):
    group_no = fields.String()
    keys = fields.List(fields.Nested(RenewGroupKeySchema))
    remaining = fields.Integer(metadata={"description": "keys still to write"})

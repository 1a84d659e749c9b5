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


class FeeItemSchema(Schema):
    name = fields.String(metadata={"description": "费用名称", "example": "证书服务费"})
    unit_fen = fields.Integer(metadata={"description": "费用单价 (fen per unit)"})
    unit = fields.String(metadata={"description": "年, 次 or 个", "example": "年"})
    quantity = fields.Integer(metadata={"description": "数量"})
    subtotal_fen = fields.Integer(metadata={"description": "小计"})


class QuoteSchema(Schema):
    eligibility = fields.Nested(EligibilitySchema)
    years = fields.Integer()
    amount_fen = fields.Integer()
    fee_detail = fields.String()
    fee_items = fields.List(fields.Nested(FeeItemSchema),
                            metadata={"description": "费用详细信息, summing to amount_fen"})
    old_not_after = fields.DateTime()
    new_not_after = fields.DateTime()


def _text(maximum: int, description: str = "") -> fields.String:
    return fields.String(load_default="", validate=validate.Length(max=maximum), metadata={"description": description})


class ContactsSchema(Schema):
    """经办人 and 收件人; the service checks each field and names the wrong ones in `errors`."""

    operator_id_type = fields.String(load_default="resident_id", validate=validate.Length(max=20), metadata={
        "description": "resident_id (居民身份证), hk_macao_permit, taiwan_permit or passport"})
    operator_id_number = _text(40, "empty: the number of my passed identity check")
    operator_name = _text(50, "empty: the name of my passed identity check")
    operator_mobile = _text(20, "empty: the mobile of my passed identity check")
    operator_email = _text(120, "required: notices and the electronic invoice")
    recipient_from_operator = fields.Boolean(load_default=False, metadata={
        "description": "从经办人处拷贝: the recipient's name and mobile are the operator's"})
    address_id = Id(load_default=None, allow_none=True, metadata={
        "description": "one of 我的地址: the recipient's name, mobile and address from it"})
    recipient_name = _text(50)
    recipient_mobile = _text(20)
    recipient_address = _text(200, "required unless address_id is given")
    invoice_delivery = fields.String(load_default="electronic", validate=validate.Length(max=16), metadata={
        "description": "electronic or paper (posted to the recipient): only one of them"})


class OrderCreateSchema(Schema):
    certificate_id = Id(required=True)
    years = Int32(required=True, validate=validate.Range(1, 5))
    app_id = Id(load_default=None, allow_none=True)
    shown_amount_fen = Int32(load_default=None, allow_none=True, metadata={
        "description": "the amount (fen) the user was shown; when given, the order is created only for that amount"})
    agreement_version = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32), metadata={
        "description": "the 电子认证服务协议 version shown and accepted now (GET /api/agreements/service); needed "
                       "until the current version is accepted"})
    contacts = fields.Nested(ContactsSchema, required=True)


class OrderContactSchema(Schema):
    """经办人 and 收件人 as stored: the ID number, mobiles and address masked."""

    operator_id_type = fields.String()
    operator_id_type_label = fields.String()
    operator_id_number_masked = fields.String()
    operator_name = fields.String()
    operator_mobile_masked = fields.String()
    operator_email = fields.String()
    recipient_name = fields.String()
    recipient_mobile_masked = fields.String()
    recipient_address_masked = fields.String()


class AddressChoiceSchema(Schema):
    id = fields.Integer()
    recipient = fields.String()
    mobile_masked = fields.String()
    region = fields.String()
    is_default = fields.Boolean()


class ContactsPrefillSchema(Schema):
    operator_name = fields.String()
    operator_id_number_masked = fields.String(metadata={"description": "the verified one, used when left empty"})
    operator_mobile_masked = fields.String(metadata={"description": "the verified one, used when left empty"})
    operator_email = fields.String()
    address_id = fields.Integer(allow_none=True, metadata={"description": "the default address"})
    addresses = fields.List(fields.Nested(AddressChoiceSchema))


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
    fee_items = fields.Method("get_fee_items", metadata={"description": "费用详细信息 as charged"})
    agreement_version = fields.String(allow_none=True)
    agreed_at = fields.DateTime(allow_none=True)
    invoice_delivery = fields.String(metadata={"description": "electronic or paper"})
    contact = fields.Nested(OrderContactSchema, allow_none=True)

    shipment = fields.Method("get_shipment", metadata={"description": "补办介质: recipient, waybill, tracking"})

    def get_steps(self, order):
        return StepSchema(many=True).dump(orders.timeline(order))

    def get_shipment(self, order):
        view = shipping.shipment_view(order)
        return ShipmentSchema().dump(view) if view is not None else None

    def get_fee_items(self, order):
        return FeeItemSchema(many=True).dump(orders.order_fee_items(order))


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
    agreement_version = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32), metadata={
        "description": "the 电子认证服务协议 version shown and accepted now; needed until the current version is "
                       "accepted"})
    contacts = fields.Nested(ContactsSchema, required=True, metadata={"description": "经办人/收件人 of every order"})


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

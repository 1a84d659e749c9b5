"""JSON shapes of the reviewed applications (the mini-program's API; OpenAPI from these)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from wxbackend.applications import finance, materials, service
from wxbackend.orders.models import STATUS_LABELS
from wxbackend.shipping.service import shipment_for_order


class ConsentSchema(Schema):
    agreement = fields.Boolean(required=True, metadata={"description": "同意《电子认证服务协议》"})
    consent = fields.Boolean(required=True, metadata={"description": "单独同意《敏感个人信息处理授权书》"})


class AgreementSchema(Schema):
    agreement_version = fields.String()
    agreement = fields.String()
    consent_version = fields.String()
    consent = fields.String()


MaterialsSchema = Schema.from_dict(
    {f.name: fields.String(load_default="", metadata={"description": f.label + ("（加密保存，留空保持不变）"
                                                                               if f.sensitive else "")})
     for f in materials.FIELDS}, name="MaterialsSchema")


class ListQuerySchema(Schema):
    status = fields.String(load_default=None)
    date_from = fields.Date(load_default=None, data_key="from")
    date_to = fields.Date(load_default=None, data_key="to")


class UploadSchema(Schema):
    kind = fields.String()
    kind_label = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    width = fields.Integer()
    height = fields.Integer()
    created_at = fields.DateTime()


class VerificationSchema(Schema):
    attempt = fields.Integer()
    status = fields.String()
    status_label = fields.String()
    bank_name = fields.String()
    account_masked = fields.String()
    wrong_tries = fields.Integer()
    expires_at = fields.DateTime(allow_none=True)


class ApplicationSchema(Schema):
    id = fields.Integer()
    application_no = fields.String()
    kind = fields.String()
    kind_label = fields.String()
    order_id = fields.Integer()
    order_no = fields.Function(lambda a: a.order.order_no)
    status = fields.Function(lambda a: a.order.status)
    status_label = fields.Function(lambda a: STATUS_LABELS[a.order.status])
    organisation = fields.Function(lambda a: a.organisation_shown)
    revision = fields.Integer()
    agreement_version = fields.String(allow_none=True)
    agreed_at = fields.DateTime(allow_none=True)
    consent_version = fields.String(allow_none=True)
    consented_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class RejectionSchema(Schema):
    reason = fields.String()
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields")
    revision = fields.Integer()


def _shipping_address(application) -> dict | None:
    shipment = shipment_for_order(application.order_id) if application.kind == "replacement" else None
    if shipment is None:
        return None
    return {"recipient": shipment.recipient, "mobile": shipment.mobile_masked,
            "address": f"{shipment.province}{shipment.city}{shipment.district}{shipment.detail}"}


class ApplicationDetailSchema(ApplicationSchema):
    materials = fields.Function(lambda a: materials.masked(a.current.fields) if a.current else None,
                                metadata={"description": "最新版资料，敏感字段脱敏"})
    missing = fields.Function(service.missing_parts)
    shipping_address = fields.Function(
        lambda a: _shipping_address(a), metadata={"description": "介质遗失补办：新介质的邮寄地址（手机号脱敏）"})
    rejection = fields.Function(lambda a: RejectionSchema().dump(r) if (r := service.last_rejection(a)) else None)
    review_due = fields.Function(lambda a: d.isoformat() if (d := service.review_due(a)) else None)
    uploads = fields.Function(lambda a: UploadSchema(many=True).dump(list(service.current_uploads(a).values())))
    verification = fields.Function(lambda a: VerificationSchema().dump(v) if (v := finance.latest(a.id)) else None)


class CodeSchema(Schema):
    code = fields.String(required=True, metadata={"description": "交易附言中的6位随机码"})


class CodeResultSchema(Schema):
    ok = fields.Boolean()
    code = fields.String()
    message = fields.String()
    tries_left = fields.Integer()


class RetrySchema(Schema):
    bank_name = fields.String(load_default="")
    bank_account = fields.String(load_default="")


class SerialSchema(Schema):
    serial = fields.String(required=True, validate=validate.Length(min=1, max=64),
                           metadata={"description": "证书序列号（区分大小写，例如712C1B5A584A1BBE）"})


class ReplacementStartSchema(SerialSchema):
    amount_fen = fields.Integer(required=True, validate=validate.Range(min=0, max=2**31 - 1),
                                metadata={"description": "页面显示的补办费用（分），与收费不一致时拒绝"})
    agreement_version = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32), metadata={
        "description": "the 电子认证服务协议 version shown and accepted now; needed until the current one is accepted"})


class ReplacementQuoteSchema(Schema):
    amount_fen = fields.Integer()
    amount_yuan = fields.String()
    medium_fen = fields.Integer()
    medium_yuan = fields.String()
    service_yuan = fields.String()
    fee_detail = fields.String()
    fee_items = fields.Method("get_fee_items", metadata={"description": "费用详细信息: 证书服务费 and 介质费"})
    new_not_after = fields.DateTime()

    def get_fee_items(self, offer):
        return [item.stored() for item in offer.fee_items]


class ReplacementLookupSchema(Schema):
    serial = fields.String()
    bound = fields.Boolean(metadata={"description": "我是否已绑定该证书；未绑定时机构名称脱敏"})
    organisation = fields.String()
    status = fields.Function(lambda f: f.certificate.status)
    status_label = fields.String()
    not_after = fields.DateTime()
    replaceable = fields.Function(lambda f: f.quote is not None)
    refusal = fields.String(metadata={"description": "不能补办的原因（可以补办时为空）"})
    quote = fields.Nested(ReplacementQuoteSchema, allow_none=True)
    application_id = fields.Function(lambda f: f.application.id if f.application else None)


class ShippingAddressChoiceSchema(Schema):
    address_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1),
                                metadata={"description": "“我的地址”中的地址id"})


class LivenessSchema(Schema):
    status = fields.String(metadata={"description": "none, pending, passed, failed or expired"})
    label = fields.String(metadata={"example": "认证中"})
    passed = fields.Boolean(metadata={"description": "the current 经办人 has passed"})


class LivenessStartSchema(LivenessSchema):
    url = fields.String(metadata={"description": "the provider's page to open (web-view); it comes back to the H5 "
                                                 "page, and the result is pulled by GET …/liveness"})

"""Request and response schemas: they validate input and generate the OpenAPI document."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class ApiErrorSchema(Schema):
    code = fields.String(required=True, metadata={"example": "not_found"})
    message = fields.String(required=True, metadata={"example": "没有找到该证书"})


class CertAppSchema(Schema):
    name = fields.String()
    expires_at = fields.DateTime()
    status = fields.String()
    status_label = fields.String()


class CertificateSummarySchema(Schema):
    id = fields.Integer()
    serial = fields.String()
    organisation = fields.String(attribute="subject_o")
    not_before = fields.DateTime()
    not_after = fields.DateTime()
    status = fields.String()
    status_label = fields.String()
    medium_last4 = fields.String()


class CertificateDetailSchema(CertificateSummarySchema):
    common_name = fields.String(attribute="subject_cn")
    legal_representative = fields.String()
    locality = fields.String(attribute="subject_l")
    province = fields.String(attribute="subject_st")
    email = fields.String()
    apps = fields.List(fields.Nested(CertAppSchema))


class ClaimRequestSchema(Schema):
    code = fields.String(load_default="", validate=validate.Length(max=16), metadata={"example": "12345678"})
    last4 = fields.String(load_default="", validate=validate.Length(max=8), metadata={"example": "3a5f"})
    qr_token = fields.String(load_default=None, validate=validate.Length(max=64))


class ClaimResponseSchema(Schema):
    session_id = fields.String()


class ClaimStateSchema(Schema):
    state = fields.String(metadata={"description": "claimed | bound | rejected | dead"})
    certificate_id = fields.Integer(allow_none=True)
    organisation = fields.String()
    expires_in = fields.Integer()


class MeSchema(Schema):
    id = fields.Integer()
    nickname = fields.String()


class MiniProgramLoginSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=128),
                         metadata={"description": "The code from wx.login()"})


class ApiTokenSchema(Schema):
    token = fields.String(metadata={"description": "Send as `Authorization: Bearer <token>`"})
    expires_in = fields.Integer(metadata={"description": "Seconds"})
    user = fields.Nested(MeSchema)


class JssdkQuerySchema(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2048))


class JssdkConfigSchema(Schema):
    appId = fields.String()  # noqa: N815 (wx.config's own names)
    timestamp = fields.Integer()
    nonceStr = fields.String()  # noqa: N815
    signature = fields.String()
    jsApiList = fields.List(fields.String())  # noqa: N815


# PC side
class BindStartRequestSchema(Schema):
    certificate = fields.String(required=True, validate=validate.Length(max=20000),
                                metadata={"description": "PEM read from the key by the helper"})


class PcCertificateSchema(Schema):
    serial = fields.String()
    organisation = fields.String(attribute="subject_o")
    not_before = fields.DateTime()
    not_after = fields.DateTime()
    medium_last4 = fields.String()


class BindStartResponseSchema(Schema):
    ticket = fields.String(metadata={"description": "helper ticket for POST /v1/sign"})
    ticket_id = fields.String()
    certificate = fields.Nested(PcCertificateSchema)


class BindCodeRequestSchema(Schema):
    ticket_id = fields.String(required=True, validate=validate.Length(max=64))
    signature = fields.String(required=True, validate=validate.Length(max=2048),
                              metadata={"description": "base64 signature of the ticket's challenge by the key"})


class BindCodeResponseSchema(Schema):
    session_id = fields.String()
    pc_token = fields.String()
    code = fields.String()
    medium_last4 = fields.String()
    qr_svg = fields.String()
    expires_in = fields.Integer()


class PcTokenQuerySchema(Schema):
    pc_token = fields.String(required=True, validate=validate.Length(max=64))


class PcSessionStateSchema(Schema):
    state = fields.String(metadata={"description": "waiting | claimed | bound | rejected | dead"})
    claimant = fields.String(allow_none=True, metadata={"example": "张**"})
    expires_in = fields.Integer()


class ConfirmRequestSchema(Schema):
    pc_token = fields.String(required=True, validate=validate.Length(max=64))
    accept = fields.Boolean(required=True)


class ConfirmResponseSchema(Schema):
    state = fields.String()


# WeChat Pay
class WeChatPayRequestSchema(Schema):
    via = fields.String(required=True, validate=validate.OneOf(["jsapi", "mini"]),
                        metadata={"description": "jsapi: the official account's H5 page (WeixinJSBridge); "
                                                 "mini: the mini-program (wx.requestPayment)"})


class WeChatPayParamsSchema(Schema):
    """Pass unchanged to `WeixinJSBridge.invoke('getBrandWCPayRequest', …)` or `wx.requestPayment`."""

    appId = fields.String()  # noqa: N815 (WeChat Pay's own names)
    timeStamp = fields.String()  # noqa: N815
    nonceStr = fields.String()  # noqa: N815
    package = fields.String(metadata={"example": "prepay_id=wx201410272009395522657a690389285100"})
    signType = fields.String(metadata={"example": "RSA"})  # noqa: N815
    paySign = fields.String()  # noqa: N815

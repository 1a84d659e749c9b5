"""JSON shapes of WeChat Pay from the phone."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


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

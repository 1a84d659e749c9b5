"""JSON shapes of WeChat Pay, corporate transfer and refunds from the phone."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from wxbackend.payments.transfer import payee_account


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


class PayeeSchema(Schema):
    name = fields.String(metadata={"description": "户名"})
    bank = fields.String(metadata={"description": "开户行"})
    account = fields.String(metadata={"description": "账号"})


class GroupTransferSchema(Schema):
    """对公打款 of a 批量续期 group: one code (the transfer's only remark) for one transfer of the total."""

    group_no = fields.String()
    transfer_code = fields.String()
    amount_fen = fields.Integer()
    payer_name = fields.String(attribute="organisation",
                               metadata={"description": "the account the transfer must come from (empty when the "
                                                        "certificates belong to several organisations)"})
    payee = fields.Method("get_payee")

    def get_payee(self, group):
        return PayeeSchema().dump(payee_account())


class RefundRequestSchema(Schema):
    reason = fields.String(load_default="用户撤销", validate=validate.Length(max=80))


class RefundSchema(Schema):
    out_refund_no = fields.String()
    amount_fen = fields.Integer(metadata={"description": "this order's amount only (also out of a group's payment)"})
    channel = fields.String(metadata={"description": "wechat | transfer"})
    status = fields.String()
    status_label = fields.String()

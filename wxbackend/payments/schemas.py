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


class PayeeAccountSchema(Schema):
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
        return PayeeAccountSchema().dump(payee_account())


class RefundRequestSchema(Schema):
    reason = fields.String(load_default="用户撤销", validate=validate.Length(max=80))



class TransferSchema(Schema):
    """对公打款 of one order: the code to put in the remark, our account and the rules. `payee` and `rules` only while
    the order waits for payment; `transfer_code` once chosen (POST)."""

    order_id = fields.Integer(attribute="id")
    order_no = fields.String()
    subject = fields.String(metadata={"description": "证书名称"})
    amount_fen = fields.Integer()
    status = fields.String()
    status_label = fields.String()
    pay_channel = fields.String(allow_none=True)
    transfer_code = fields.String(allow_none=True, metadata={"example": "483920"})
    payer_name = fields.String(metadata={"description": "付款人户名须为证书所属单位"})
    payee = fields.Nested(PayeeAccountSchema, allow_none=True)
    rules = fields.List(fields.String())


class RefundSchema(Schema):
    """撤销并退款: the refund asked for and the order's status (退款中, or 已退款 when WeChat Pay answered at once)."""

    order_id = fields.Integer()
    amount_fen = fields.Integer()
    channel = fields.String(metadata={"description": "wechat: 原路退回; transfer: 由财务通过银行转账退回付款账户"})
    status = fields.String()
    status_label = fields.String()
    order_status = fields.String()
    order_status_label = fields.String()

"""微信支付, 对公打款 and 撤销并退款 from the phone or the mini-program (DESIGN §9), for one order or a 批量续期
group: the same services as the H5 pages (`payments/web/h5.py`)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.orders.models import OrderStatus
from wxbackend.orders.service import user_order
from wxbackend.payments.models import REFUND_STATUS_LABELS
from wxbackend.payments.schemas import (
    GroupTransferSchema,
    RefundRequestSchema,
    RefundSchema,
    TransferSchema,
    WeChatPayParamsSchema,
    WeChatPayRequestSchema,
)
from wxbackend.payments.service import refund_order, start_group_wechat_payment, start_wechat_payment
from wxbackend.payments.transfer import choose_group_transfer, choose_transfer, payee_account, transfer_rules
from wxbackend.web.auth import api_user_id
from wxbackend.web.limits import by_user, limited
from wxbackend.web.schemas import ApiErrorSchema

bp = Blueprint("payments_api", __name__, url_prefix="/api", description="微信支付、对公打款与退款")


@bp.route("/orders/<int:order_id>/wechat-pay")
class OrderWeChatPay(MethodView):
    @limited("PAYMENT_START_LIMIT", scope="payment_start", key_func=by_user)
    @bp.arguments(WeChatPayRequestSchema)
    @bp.response(200, WeChatPayParamsSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    @bp.alt_response(429, schema=ApiErrorSchema)
    @bp.alt_response(502, schema=ApiErrorSchema)
    def post(self, body: dict, order_id: int):
        """微信支付: the parameters to pay one of the user's orders waiting for payment. The order's status (GET the
        order) turns 已支付 when WeChat Pay confirms, not when the page's pay call returns."""
        return start_wechat_payment(api_user_id(), order_id, body["via"])


@bp.route("/order-groups/<int:group_id>/wechat-pay")
class GroupWeChatPay(MethodView):
    @limited("PAYMENT_START_LIMIT", scope="payment_start", key_func=by_user)
    @bp.arguments(WeChatPayRequestSchema)
    @bp.response(200, WeChatPayParamsSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    @bp.alt_response(429, schema=ApiErrorSchema)
    @bp.alt_response(502, schema=ApiErrorSchema)
    def post(self, body: dict, group_id: int):
        """微信支付 of a 批量续期 group: one transaction for the group's total; every order of it turns 已支付 when
        WeChat Pay confirms (GET /api/order-groups/{id})."""
        return start_group_wechat_payment(api_user_id(), group_id, body["via"])


@bp.route("/order-groups/<int:group_id>/transfer")
class GroupTransfer(MethodView):
    @limited("PAYMENT_START_LIMIT", scope="payment_start", key_func=by_user)
    @bp.response(200, GroupTransferSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    @bp.alt_response(429, schema=ApiErrorSchema)
    def post(self, group_id: int):
        """对公打款 of a 批量续期 group: its one 6-digit code (kept once given) and our account."""
        return choose_group_transfer(api_user_id(), group_id)


def transfer_answer(order) -> dict:
    waiting = order.status == OrderStatus.PENDING_PAYMENT
    return {"id": order.id, "order_no": order.order_no, "subject": order.subject, "amount_fen": order.amount_fen,
            "status": order.status, "status_label": order.status_label, "pay_channel": order.pay_channel,
            "transfer_code": order.transfer_code, "payer_name": order.certificate.subject_o,
            "payee": payee_account() if waiting else None, "rules": transfer_rules(order) if waiting else []}


@bp.route("/orders/<int:order_id>/transfer")
class OrderTransfer(MethodView):
    @bp.response(200, TransferSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def get(self, order_id: int):
        """对公打款: our account (户名, 开户行, 账号), the rules and the order's 6-digit code once it has one."""
        return transfer_answer(user_order(api_user_id(), order_id))

    @limited("PAYMENT_START_LIMIT", scope="payment_start", key_func=by_user)
    @bp.response(200, TransferSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    def post(self, order_id: int):
        """获取打款码: pay this order by corporate transfer; its 6-digit code (the same one when asked again). 409
        `not_pending_payment` when the order is not waiting for payment."""
        return transfer_answer(choose_transfer(api_user_id(), order_id))


@bp.route("/orders/<int:order_id>/refund")
class OrderRefund(MethodView):
    @bp.arguments(RefundRequestSchema)
    @bp.response(201, RefundSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    @bp.alt_response(502, schema=ApiErrorSchema)
    def post(self, body: dict, order_id: int):
        """撤销并退款 after payment (已支付, 待制证, 审核通过, 未通过): the money goes back through the channel
        that paid (微信支付 原路退回; 对公打款 by finance's bank transfer); one order of a 批量续期 group gets only its
        amount back, the others stay paid. 409 when the order's status allows no refund."""
        user_id = api_user_id()
        refund = refund_order(user_id, order_id, f"user:{user_id}", body["reason"])
        return {"order_id": refund.order_id, "amount_fen": refund.amount_fen, "channel": refund.channel,
                "status": refund.status, "status_label": REFUND_STATUS_LABELS[refund.status],
                "order_status": refund.order.status, "order_status_label": refund.order.status_label}

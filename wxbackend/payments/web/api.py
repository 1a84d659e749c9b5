"""微信支付 from the phone or the mini-program (DESIGN §9), for one order or a 批量续期 group; the group's transfer
code; 撤销并退款 of one paid order."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.payments.schemas import (
    GroupTransferSchema,
    RefundRequestSchema,
    RefundSchema,
    WeChatPayParamsSchema,
    WeChatPayRequestSchema,
)
from wxbackend.payments.service import refund_order, start_group_wechat_payment, start_wechat_payment
from wxbackend.payments.transfer import choose_group_transfer
from wxbackend.web.auth import api_user_id
from wxbackend.web.limits import by_user, limited
from wxbackend.web.schemas import ApiErrorSchema

bp = Blueprint("payments_api", __name__, url_prefix="/api", description="微信支付")


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


@bp.route("/orders/<int:order_id>/refund")
class OrderRefund(MethodView):
    @bp.arguments(RefundRequestSchema)
    @bp.response(200, RefundSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    @bp.alt_response(502, schema=ApiErrorSchema)
    def post(self, body: dict, order_id: int):
        """撤销并退款 of one paid order (also one order of a 批量续期 group: only its amount is refunded, the
        others stay paid), through the channel that paid."""
        user_id = api_user_id()
        return refund_order(user_id, order_id, f"user:{user_id}", body["reason"])

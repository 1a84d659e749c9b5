"""微信支付 from the phone or the mini-program (DESIGN §9)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.payments.schemas import WeChatPayParamsSchema, WeChatPayRequestSchema
from wxbackend.payments.service import start_wechat_payment
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

"""JSON endpoints of the phone side. Thin: validate, call one service, serialise."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.api.schemas import (
    ApiErrorSchema,
    ApiTokenSchema,
    CertificateDetailSchema,
    CertificateSummarySchema,
    ClaimRequestSchema,
    ClaimResponseSchema,
    ClaimStateSchema,
    JssdkConfigSchema,
    JssdkQuerySchema,
    MeSchema,
    MiniProgramLoginSchema,
    WeChatPayParamsSchema,
    WeChatPayRequestSchema,
)
from wxbackend.binding import service as binding
from wxbackend.certificates.service import user_certificate, user_certificates
from wxbackend.web.auth import api_user_id, current_user, issue_api_token

bp = Blueprint("api", __name__, url_prefix="/api", description="CA管家 JSON API (H5 and mini-program)")


def client_ip() -> str:
    return request.remote_addr or ""


@bp.route("/me")
class Me(MethodView):
    @bp.response(200, MeSchema)
    @bp.alt_response(401, schema=ApiErrorSchema)
    def get(self):
        """The signed-in user."""
        api_user_id()
        return current_user()


@bp.route("/certificates")
class Certificates(MethodView):
    @bp.response(200, CertificateSummarySchema(many=True))
    @bp.alt_response(401, schema=ApiErrorSchema)
    def get(self):
        """我的数字证书: certificates bound to the signed-in user."""
        return user_certificates(api_user_id())


@bp.route("/certificates/<int:certificate_id>")
class CertificateDetail(MethodView):
    @bp.response(200, CertificateDetailSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def get(self, certificate_id: int):
        """证书详情 with 我的应用."""
        return user_certificate(api_user_id(), certificate_id)


@bp.route("/certificates/<int:certificate_id>/binding")
class CertificateBinding(MethodView):
    @bp.response(204)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def delete(self, certificate_id: int):
        """Unbind: the certificate disappears from this user's list (others bound to it keep it)."""
        binding.unbind(api_user_id(), certificate_id)


@bp.route("/binding/claims")
class Claims(MethodView):
    @bp.arguments(ClaimRequestSchema)
    @bp.response(201, ClaimResponseSchema)
    @bp.alt_response(400, schema=ApiErrorSchema)
    @bp.alt_response(429, schema=ApiErrorSchema)
    def post(self, body: dict):
        """证书绑定 from the phone: the 8-digit code and the medium number's last 4, or the QR token."""
        user_id = api_user_id()
        if body.get("qr_token"):
            session_id = binding.claim_by_qr(user_id, body["qr_token"], client_ip())
        else:
            session_id = binding.claim_by_code(user_id, body["code"], body["last4"], client_ip())
        return {"session_id": session_id}


@bp.route("/binding/claims/<session_id>")
class Claim(MethodView):
    @bp.response(200, ClaimStateSchema)
    @bp.alt_response(410, schema=ApiErrorSchema)
    def get(self, session_id: str):
        """The claim's state while the PC confirms."""
        return binding.phone_session_state(api_user_id(), session_id)


@bp.route("/auth/mini-program")
class MiniProgramLogin(MethodView):
    @bp.arguments(MiniProgramLoginSchema)
    @bp.response(200, ApiTokenSchema)
    @bp.alt_response(400, schema=ApiErrorSchema)
    @bp.alt_response(502, schema=ApiErrorSchema)
    def post(self, body: dict):
        """Mini-program login: the code from wx.login() for an API token (the session_key stays here)."""
        from wxbackend.wechat.login import mini_program_login

        user = mini_program_login(body["code"])
        token, expires_in = issue_api_token(user.id)
        return {"token": token, "expires_in": expires_in, "user": user}


@bp.route("/wechat/jssdk-config")
class JssdkConfig(MethodView):
    @bp.arguments(JssdkQuerySchema, location="query")
    @bp.response(200, JssdkConfigSchema)
    @bp.alt_response(400, schema=ApiErrorSchema)
    def get(self, query: dict):
        """`wx.config` values for one of our pages (the URL without its `#` part is what gets signed)."""
        from wxbackend.wechat.jssdk import jssdk_config

        return jssdk_config(query["url"])




@bp.route("/orders/<int:order_id>/wechat-pay")
class OrderWeChatPay(MethodView):
    @bp.arguments(WeChatPayRequestSchema)
    @bp.response(200, WeChatPayParamsSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    @bp.alt_response(502, schema=ApiErrorSchema)
    def post(self, body: dict, order_id: int):
        """微信支付: the parameters to pay one of the user's orders waiting for payment. The order's status (GET the
        order) turns 已支付 when WeChat Pay confirms, not when the page's pay call returns."""
        from wxbackend.payments.service import start_wechat_payment

        return start_wechat_payment(api_user_id(), order_id, body["via"])

"""证书绑定 from the phone as JSON (DESIGN §4): claims by code or QR, their state, unbinding."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.binding import service as binding
from wxbackend.binding.schemas import ClaimRequestSchema, ClaimResponseSchema, ClaimStateSchema
from wxbackend.web.auth import api_user_id
from wxbackend.web.limits import limited
from wxbackend.web.schemas import ApiErrorSchema

bp = Blueprint("binding_api", __name__, url_prefix="/api", description="证书绑定 (phone)")


def client_ip() -> str:
    return request.remote_addr or ""


@bp.route("/certificates/<int:certificate_id>/binding")
class CertificateBinding(MethodView):
    @bp.response(204)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def delete(self, certificate_id: int):
        """Unbind: the certificate disappears from this user's list (others bound to it keep it)."""
        binding.unbind(api_user_id(), certificate_id)


@bp.route("/binding/claims")
class Claims(MethodView):
    @limited("BIND_CLAIM_LIMIT", scope="binding_claim")
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

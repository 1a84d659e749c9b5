"""证书绑定 on the PC (DESIGN §4): the page (/pc/bind: helper → PIN → 8-digit code → the phone claims → confirm
here) and its JSON endpoints (/pc/api/bind/…). No cookie: the key's signature and the PC token authenticate."""

from __future__ import annotations

from flask import Blueprint as PageBlueprint
from flask import render_template, request
from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.binding import service as binding
from wxbackend.binding.schemas import (
    BindCodeRequestSchema,
    BindCodeResponseSchema,
    BindStartRequestSchema,
    BindStartResponseSchema,
    ConfirmRequestSchema,
    ConfirmResponseSchema,
    PcSessionStateSchema,
    PcTokenHeaderSchema,
)
from wxbackend.web.limits import limited
from wxbackend.web.schemas import ApiErrorSchema

pages = PageBlueprint("binding_pc", __name__, url_prefix="/pc", template_folder="../templates",
                      static_folder="../static/binding", static_url_path="/static/binding")
bp = Blueprint("binding_pc_api", __name__, url_prefix="/pc/api", description="PC pages: binding a key")


@pages.get("/bind")
def bind():
    """证书绑定 on the PC: helper → PIN → 8-digit code → the phone claims → confirm here."""
    return render_template("binding/pc_bind.html")  # the helper's address and minimum version: pc/base.html


@bp.route("/bind/start")
class BindStart(MethodView):
    @limited("PC_START_LIMIT")
    @bp.arguments(BindStartRequestSchema)
    @bp.response(200, BindStartResponseSchema)
    @bp.alt_response(400, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    @bp.alt_response(429, schema=ApiErrorSchema)
    def post(self, body: dict):
        """Check the key's certificate; a `sign` ticket for the helper. 409 helper_outdated for a helper older than
        HELPER_MIN_VERSION (a courtesy: the page is not trusted; the helper's ticket rules guard the key)."""
        result = binding.start_binding(body["certificate"], request.remote_addr or "", body["helper_version"])
        return result


@bp.route("/bind/code")
class BindCode(MethodView):
    @limited("PC_SIGNATURE_LIMIT")
    @bp.arguments(BindCodeRequestSchema)
    @bp.response(201, BindCodeResponseSchema)
    @bp.alt_response(400, schema=ApiErrorSchema)
    @bp.alt_response(429, schema=ApiErrorSchema)
    def post(self, body: dict):
        """Verify the key's signature; the 8-digit binding code, valid 300 s."""
        opened = binding.open_binding_session(body["ticket_id"], body["signature"], request.remote_addr or "")
        return {"session_id": opened.session_id, "pc_token": opened.pc_token, "code": opened.code,
                "medium_last4": opened.medium_last4, "qr_svg": binding.qr_svg(opened.qr_token),
                "expires_in": opened.expires_in}


@bp.route("/bind/sessions/<session_id>")
class BindSession(MethodView):
    @bp.arguments(PcTokenHeaderSchema, location="headers")
    @bp.response(200, PcSessionStateSchema)
    @bp.alt_response(410, schema=ApiErrorSchema)
    def get(self, query: dict, session_id: str):
        """Poll: waiting, claimed by 微信用户 张**, bound, rejected, or gone. The PC token in `X-PC-Token`."""
        return binding.pc_session_state(session_id, query["pc_token"])


@bp.route("/bind/sessions/<session_id>/confirm")
class BindConfirm(MethodView):
    @bp.arguments(ConfirmRequestSchema)
    @bp.response(200, ConfirmResponseSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    @bp.alt_response(410, schema=ApiErrorSchema)
    def post(self, body: dict, session_id: str):
        """确认 or 拒绝 the phone's request."""
        result = binding.confirm_binding(session_id, body["pc_token"], body["accept"], request.remote_addr or "")
        return result

"""The signed-in user, for the phone's scripts and the mini-program, and 扫码登录's question to the phone (the same
service as `users/web/h5.py`)."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.users import service
from wxbackend.users.schemas import MeSchema, PcLoginAnswerSchema, PcLoginScanSchema, PcLoginSchema
from wxbackend.web.auth import api_user_id, current_user
from wxbackend.web.schemas import ApiErrorSchema

bp = Blueprint("users_api", __name__, url_prefix="/api", description="The signed-in user; 扫码登录 from the phone")


@bp.route("/me")
class Me(MethodView):
    @bp.response(200, MeSchema)
    @bp.alt_response(401, schema=ApiErrorSchema)
    def get(self):
        """The signed-in user."""
        api_user_id()
        return current_user()


def login_answer(user_id: int, login_id: str) -> dict:
    return {"login_id": login_id, **service.pc_login_request(user_id, login_id)}


@bp.route("/pc-login/scans")
class PcLoginScans(MethodView):
    @bp.arguments(PcLoginScanSchema)
    @bp.response(200, PcLoginSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    @bp.alt_response(410, schema=ApiErrorSchema)
    def post(self, body: dict):
        """扫码登录: the PC's QR code scanned (wx.scanCode); the first user claims the login and gets the question.
        410 login_expired, 409 login_taken (another user scanned it first)."""
        user_id = api_user_id()
        return login_answer(user_id, service.scan_pc_login(user_id, body["token"]))


@bp.route("/pc-login/<login_id>")
class PcLogin(MethodView):
    @bp.response(200, PcLoginSchema)
    @bp.alt_response(410, schema=ApiErrorSchema)
    def get(self, login_id: str):
        """The login this user scanned: the PC's network, browser, time and state (410 for anyone else)."""
        return login_answer(api_user_id(), login_id)


@bp.route("/pc-login/<login_id>/answer")
class PcLoginAnswer(MethodView):
    @bp.arguments(PcLoginAnswerSchema)
    @bp.response(200, PcLoginSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    @bp.alt_response(410, schema=ApiErrorSchema)
    def post(self, body: dict, login_id: str):
        """确认登录 (accept) or 取消: only the first answer counts (409 login_answered after it)."""
        user_id = api_user_id()
        service.answer_pc_login(user_id, login_id, body["accept"], request.remote_addr or "")
        return login_answer(user_id, login_id)

"""The WeChat channel's JSON endpoints: mini-program login and the JS-SDK config."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.web.auth import issue_api_token
from wxbackend.web.limits import limited
from wxbackend.web.schemas import ApiErrorSchema
from wxbackend.wechat.jssdk import jssdk_config
from wxbackend.wechat.login import mini_program_login
from wxbackend.wechat.schemas import ApiTokenSchema, JssdkConfigSchema, JssdkQuerySchema, MiniProgramLoginSchema

bp = Blueprint("wechat_api", __name__, url_prefix="/api", description="WeChat: mini-program login, JS-SDK")


@bp.route("/auth/mini-program")
class MiniProgramLogin(MethodView):
    @limited("SIGN_IN_LIMIT")
    @bp.arguments(MiniProgramLoginSchema)
    @bp.response(200, ApiTokenSchema)
    @bp.alt_response(400, schema=ApiErrorSchema)
    @bp.alt_response(429, schema=ApiErrorSchema)
    @bp.alt_response(502, schema=ApiErrorSchema)
    def post(self, body: dict):
        """Mini-program login: the code from wx.login() for an API token (the session_key stays here)."""
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
        return jssdk_config(query["url"])

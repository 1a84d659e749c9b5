"""`/wechat`: what WeChat's servers push, and the OAuth callback of the H5 pages."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, redirect, render_template, request, session

from wxbackend.core.errors import DomainError
from wxbackend.integrations.wechat import CODE_INVALID, CODE_USED, WeChatError, oauth, wechat_call
from wxbackend.users.service import user_for_wechat
from wxbackend.web.auth import safe_next, sign_in, start_oauth
from wxbackend.web.limits import limited, unlimited
from wxbackend.wechat import inbound
from wxbackend.wechat.service import EMPTY, handle_message

bp = Blueprint("wechat", __name__, url_prefix="/wechat", template_folder="templates")
MAX_OAUTH_RESTARTS = 2


class OAuthStateMismatch(DomainError):
    code, message, status = "oauth_state_mismatch", "授权已失效，请关闭页面后从公众号菜单重新打开", 400


def endpoint() -> inbound.Endpoint:
    cfg = current_app.config
    return inbound.endpoint_for(cfg["WECHAT_TOKEN"], cfg["WECHAT_AES_KEY"], cfg["WECHAT_APP_ID"])


def plain(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="text/plain")


@bp.get("")
def verify():
    """WeChat's server check: echo `echostr` exactly when the signature is ours."""
    inbound.check_request_signature(endpoint(), request.args)
    return plain(request.args.get("echostr", ""))


@bp.post("")
def receive():
    if (request.content_length or 0) > inbound.MAX_BODY_BYTES:
        return plain("too large", 413)
    body = request.get_data(cache=False)
    settings = endpoint()
    opened = inbound.open_message(settings, request.args, body)
    reply = handle_message(opened, current_app.config["PUBLIC_BASE_URL"])
    if reply == EMPTY:
        return plain(EMPTY)
    if opened.encrypted:
        reply = settings.encrypt_reply(reply)
    return Response(reply, mimetype="application/xml")


unlimited("wechat.receive")  # WeChat's own servers, a message at a time: verified by signature, never limited


@bp.get("/oauth/callback")
@limited("SIGN_IN_LIMIT")
def oauth_callback():
    """Back from WeChat's authorize page: state checked, the code exchanged once, the user signed in."""

    expected = session.pop("oauth_state", None)
    next_path = session.get("oauth_next")
    if not expected or not hmac.compare_digest(expected, request.args.get("state", "")):
        raise OAuthStateMismatch()
    code = request.args.get("code", "")
    if not code:
        raise DomainError("微信未返回授权码，请重新打开页面", code="oauth_no_code")
    try:
        with wechat_call():
            result = oauth(request.base_url).fetch_access_token(code)
    except WeChatError as refused:
        restarts = session.get("oauth_restarts", 0)
        if refused.errcode not in (CODE_INVALID, CODE_USED) or restarts >= MAX_OAUTH_RESTARTS:
            raise
        session["oauth_restarts"] = restarts + 1  # a code used twice (back button, retried request): ask again
        return redirect(start_oauth(next_path or ""))
    if result.get("is_snapshotuser") == 1:
        return render_template("wechat/snapshot.html")  # a page preview in WeChat's timeline: no account
    sign_in(user_for_wechat(openid=result["openid"], unionid=result.get("unionid")).id)
    return redirect(safe_next(next_path))

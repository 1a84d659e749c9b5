"""Mini-program login: the code from `wx.login()` exchanged once for the person's ids."""

from __future__ import annotations

from wxbackend.core.errors import DomainError
from wxbackend.core.redis import get_redis
from wxbackend.integrations.wechat import CODE_INVALID, CODE_USED, WeChatError, mini_program, wechat_call
from wxbackend.users.models import User
from wxbackend.users.service import user_for_wechat

SESSION_KEY_SECONDS = 3 * 86400


class LoginCodeInvalid(DomainError):
    code, message = "login_code_invalid", "登录凭证无效或已使用，请重新登录"


def mini_program_login(js_code: str) -> User:
    """The User behind `js_code` (one person with the official account's user when the unionid matches).
    The session_key is kept server-side only, for decrypting data the mini-program may send later."""
    try:
        with wechat_call():
            result = mini_program().code_to_session(js_code)
    except WeChatError as refused:
        if refused.errcode in (CODE_INVALID, CODE_USED):
            raise LoginCodeInvalid() from None
        raise
    user = user_for_wechat(mp_openid=result["openid"], unionid=result.get("unionid"))
    get_redis().set(f"wechat:mp_session_key:{user.id}", result["session_key"], ex=SESSION_KEY_SECONDS)
    return user

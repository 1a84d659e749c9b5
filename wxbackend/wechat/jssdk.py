"""`wx.config` values for a page of ours: the JS-SDK ticket is shared by every process (Redis)."""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit, urlunsplit

from flask import current_app
from wechatpy.client.api.jsapi import WeChatJSAPI

from wxbackend.core.errors import DomainError
from wxbackend.integrations.wechat import official_account, wechat_call

JS_API_LIST = ["chooseWXPay", "scanQRCode", "closeWindow", "hideMenuItems", "updateAppMessageShareData"]


def jsapi_signature(ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """WeChat's JS-SDK signature: SHA-1 over the sorted `key=value` pairs joined with `&`."""
    return WeChatJSAPI.get_jsapi_signature(None, noncestr, ticket, timestamp, url)


def page_url(url: str) -> str:
    """The URL WeChat signs: ours only, without its `#` part."""
    ours = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    parts = urlsplit(url.strip())
    if (parts.scheme, parts.netloc) != (ours.scheme, ours.netloc):
        raise DomainError("只能为本站页面签名", code="foreign_url")
    return urlunsplit(parts._replace(fragment=""))


def jssdk_config(url: str) -> dict:
    signed_url = page_url(url)
    client = official_account()
    with wechat_call():
        ticket = client.jsapi_ticket()
    noncestr, timestamp = secrets.token_urlsafe(12), int(time.time())
    return {"appId": client.appid, "timestamp": timestamp, "nonceStr": noncestr,
            "signature": jsapi_signature(ticket, noncestr, timestamp, signed_url), "jsApiList": JS_API_LIST}

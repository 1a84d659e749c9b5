"""The WeChat adapter: wechatpy clients whose base URLs come from config, one access_token (and JS-SDK ticket)
shared by every process through Redis, explicit timeouts, and one `WeChatError` for whatever WeChat refuses.

`WECHAT_API_BASE` replaces `https://api.weixin.qq.com/` and `WECHAT_OAUTH_BASE` replaces
`https://open.weixin.qq.com/connect/`; tests and `make run` point them at the fake in `fakes/wechat.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import requests
from flask import current_app
from redis import Redis
from redis.exceptions import LockError
from wechatpy import WeChatClient, WeChatOAuth
from wechatpy.exceptions import WeChatClientException, WeChatOAuthException

from wxbackend.core.errors import UpstreamError
from wxbackend.core.redis import get_redis

log = logging.getLogger(__name__)
REAL_API_BASE = "https://api.weixin.qq.com/"
TOKEN_ERRORS = {40001, 40014, 42001}  # invalid credential, invalid token, token expired
CODE_INVALID, CODE_USED = 40029, 40163
NOT_SUBSCRIBED, NO_CONSENT = 43004, 43101


class WeChatError(UpstreamError):
    """WeChat answered with an error code, or could not be reached (`errcode` None)."""

    def __init__(self, errcode: int | None, errmsg: str = ""):
        self.errcode = errcode
        self.errmsg = errmsg
        super().__init__()

    def __str__(self) -> str:
        return f"WeChat error {self.errcode}: {self.errmsg}"


@contextmanager
def wechat_call() -> Iterator[None]:
    """Turn wechatpy's and requests' exceptions into `WeChatError`."""
    try:
        yield
    except (WeChatClientException, WeChatOAuthException) as exc:
        errcode = int(exc.errcode) if exc.errcode is not None else None
        raise WeChatError(errcode, str(exc.errmsg or "")) from exc
    except requests.RequestException as exc:
        raise WeChatError(None, f"{type(exc).__name__}: {exc}") from exc
    except LockError as exc:
        raise WeChatError(None, "credential refresh lock not acquired") from exc


class SharedCredential:
    """A credential (access_token, JS-SDK ticket) kept in Redis for every process. Only one process refreshes
    it at a time (a Redis lock); the others wait and take the new value instead of fetching their own."""

    def __init__(self, redis: Redis, key: str, fetch: Callable[[], tuple[str, int]], wait: float = 10.0):
        self.redis, self.key, self.fetch, self.wait = redis, key, fetch, wait

    def get(self) -> str:
        value = self.redis.get(self.key)
        return value.decode() if value else self.refresh(stale=None)

    def refresh(self, stale: str | None) -> str:
        """A value other than `stale` (the one WeChat just refused, or None when there was none)."""
        with self.redis.lock(self.key + ":lock", timeout=self.wait + 5, blocking_timeout=self.wait):
            current = self.redis.get(self.key)
            if current and current.decode() != stale:
                return current.decode()  # another process refreshed it while we waited
            value, expires_in = self.fetch()
            self.redis.set(self.key, value, ex=max(int(expires_in) - 300, 60))  # refresh 5 minutes early
            return value


class ApiClient(WeChatClient):
    """An official-account or mini-program client: configured base URL, shared access_token, timeouts, and a
    40001 answered by one controlled refresh and one retry."""

    def __init__(self, appid: str, secret: str, api_base: str, redis: Redis, timeout: float):
        super().__init__(appid, secret, timeout=timeout, auto_retry=False)
        self.api_base = api_base if api_base.endswith("/") else api_base + "/"
        self.credential = SharedCredential(redis, f"wechat:access_token:{appid}", self._fetch_stable_token)
        ticket_key = f"wechat:jsapi_ticket:{appid}"
        self.jsapi_credential = SharedCredential(redis, ticket_key, self._fetch_jsapi_ticket)

    def rebase(self, url: str) -> str:
        return self.api_base + url[len(REAL_API_BASE):] if url.startswith(REAL_API_BASE) else url

    @property
    def access_token(self) -> str:  # wechatpy reads this for every call
        return self.credential.get()

    def fetch_access_token(self):  # wechatpy's own would call the real WeChat; never bypass the shared one
        return {"access_token": self.credential.get()}

    def _fetch_stable_token(self) -> tuple[str, int]:
        log.info("fetching access_token for %s", self.appid)
        response = self._http.post(self.api_base + "cgi-bin/stable_token", timeout=self.timeout,
                                   json={"grant_type": "client_credential", "appid": self.appid,
                                         "secret": self.secret, "force_refresh": False})
        result = self._checked(response)
        return result["access_token"], int(result.get("expires_in", 7200))

    def _fetch_jsapi_ticket(self) -> tuple[str, int]:
        result = self.jsapi.get_ticket("jsapi")
        return result["ticket"], int(result.get("expires_in", 7200))

    def jsapi_ticket(self) -> str:
        return self.jsapi_credential.get()

    def _checked(self, response: requests.Response) -> dict:
        response.raise_for_status()
        result = response.json()
        if result.get("errcode"):
            raise WeChatClientException(result["errcode"], result.get("errmsg", ""), client=self)
        return result

    def _request(self, method, url_or_endpoint, **kwargs):
        retried = kwargs.pop("_retried", False)
        if url_or_endpoint.startswith(("http://", "https://")):
            url_or_endpoint = self.rebase(url_or_endpoint)
        else:
            kwargs["api_base_url"] = self.rebase(kwargs.get("api_base_url") or self.API_BASE_URL)
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        params = kwargs.setdefault("params", {})
        try:
            return super()._request(method, url_or_endpoint, **kwargs)
        except WeChatClientException as exc:
            if exc.errcode is None or int(exc.errcode) not in TOKEN_ERRORS or retried:
                raise
            log.info("access_token refused (%s); refreshing once", exc.errcode)
            params["access_token"] = self.credential.refresh(stale=params.get("access_token"))
            return self._request(method, url_or_endpoint, _retried=True, **kwargs)

    def code_to_session(self, js_code: str) -> dict:
        """Mini-program login: `{openid, session_key, unionid?}` (no access_token needed)."""
        response = self._http.get(self.api_base + "sns/jscode2session", timeout=self.timeout, params={
            "appid": self.appid, "secret": self.secret, "js_code": js_code, "grant_type": "authorization_code"})
        return self._checked(response)


class OAuthClient(WeChatOAuth):
    """snsapi_base web authorisation with configured base URLs and a timeout."""

    def __init__(self, appid: str, secret: str, redirect_uri: str, state: str, api_base: str, oauth_base: str,
                 timeout: float):
        super().__init__(appid, secret, redirect_uri, scope="snsapi_base", state=state)
        self.API_BASE_URL = api_base if api_base.endswith("/") else api_base + "/"
        self.OAUTH_BASE_URL = oauth_base if oauth_base.endswith("/") else oauth_base + "/"
        self.timeout = timeout

    def _request(self, method, url_or_endpoint, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super()._request(method, url_or_endpoint, **kwargs)


def _client(kind: str, appid_key: str, secret_key: str) -> ApiClient:
    cfg = current_app.config
    if not cfg[appid_key]:
        raise WeChatError(None, f"{appid_key} is not configured")
    cache = current_app.extensions.setdefault("wechat_clients", {})
    if kind not in cache:
        cache[kind] = ApiClient(cfg[appid_key], cfg[secret_key], cfg["WECHAT_API_BASE"], get_redis(),
                                cfg["WECHAT_TIMEOUT_SECONDS"])
    return cache[kind]


def official_account() -> ApiClient:
    """The official account's client (menus, template messages, user info, JS-SDK)."""
    return _client("official", "WECHAT_APP_ID", "WECHAT_APP_SECRET")


def mini_program() -> ApiClient:
    """The mini-program's client (code_to_session, subscribe messages)."""
    return _client("mini", "WECHAT_MINI_APP_ID", "WECHAT_MINI_APP_SECRET")


def oauth(redirect_uri: str, state: str = "") -> OAuthClient:
    cfg = current_app.config
    return OAuthClient(cfg["WECHAT_APP_ID"], cfg["WECHAT_APP_SECRET"], redirect_uri, state, cfg["WECHAT_API_BASE"],
                       cfg["WECHAT_OAUTH_BASE"], cfg["WECHAT_TIMEOUT_SECONDS"])

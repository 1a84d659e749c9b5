"""Liveness and face comparison (人脸核身) behind one interface, chosen by LIVENESS_PROVIDER, shaped like Tencent
Cloud FaceID's H5 flow: `start` asks for a BizToken and the provider's hosted page, the user goes there and comes
back to `redirect_url?BizToken=…`, and the backend then pulls the result with `result(biz_token)` — a redirect
proves nothing (anyone can type one), only the pulled result does.

`local` (development, `make run` with no outside service): every check passes — `start` records the token in
Redis as passed and its `url` is the redirect URL itself, so the step completes at once; a token `start` did not
make is "expired". `tencent`: DetectAuth and GetDetectInfoEnhanced, TC3-HMAC-SHA256 signed, at LIVENESS_API_BASE.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from flask import current_app

from wxbackend.core.errors import DomainError, UpstreamError
from wxbackend.core.redis import get_redis

log = logging.getLogger(__name__)

STATUSES = ("pending", "passed", "failed", "expired")
UNAVAILABLE = "人脸核身服务暂时不可用，请稍后再试"
TOKEN_LIFETIME_SECONDS = 3 * 86400  # FaceID keeps a BizToken's result for three days


@dataclass(frozen=True)
class LivenessStart:
    biz_token: str
    url: str  # the provider's hosted page; the user comes back to redirect_url?BizToken=…


@dataclass(frozen=True)
class LivenessResult:
    status: str  # "pending" | "passed" | "failed" | "expired"
    reference: str  # the provider's reference to keep: the BizToken, stable across result() calls
    similarity: float | None
    reason: str


class LivenessProvider(Protocol):
    name: str

    def start(self, *, name: str, id_number: str, id_photo: bytes | None, redirect_url: str,
              extra: str) -> LivenessStart: ...

    def result(self, biz_token: str) -> LivenessResult: ...


BIZ_TOKEN = re.compile(r"[A-Za-z0-9-]{1,64}")
MAX_PHOTO_BYTES = 2 * 1024 * 1024  # FaceID takes at most 3 MB of base64


class LivenessRequestInvalid(DomainError, ValueError):
    """What `start` was given is beyond the provider's limits; nothing was sent."""

    code, message, status = "liveness_request_invalid", "人脸核身请求无效", 400


def _check_start(name: str, redirect_url: str, extra: str, id_photo: bytes | None) -> None:
    """FaceID's limits: Name ≤ 32 characters, RedirectUrl and Extra ≤ 1024, the photo ≤ 3 MB as base64."""
    if not name or len(name) > 32:
        raise LivenessRequestInvalid("姓名应为1至32个字符")
    if not redirect_url.startswith(("https://", "http://")) or len(redirect_url) > 1024 or len(extra) > 1024:
        raise LivenessRequestInvalid("人脸核身的返回地址不正确")
    if id_photo is not None and len(id_photo) > MAX_PHOTO_BYTES:
        raise LivenessRequestInvalid("证件照片不能超过2MB")


def with_query(url: str, **params: str) -> str:
    """`url` with `params` added to its query string."""
    parts = urlsplit(url)
    query = (parts.query + "&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class LocalLiveness:
    """Development only: passes everyone, with no page to visit. Never used in production."""

    name = "local"

    def start(self, *, name: str, id_number: str, id_photo: bytes | None, redirect_url: str,
              extra: str) -> LivenessStart:
        _check_start(name, redirect_url, extra, id_photo)
        biz_token = "LOCAL-" + secrets.token_hex(16).upper()
        passed = LivenessResult("passed", biz_token, 100.0, "")
        get_redis().set(self._key(biz_token), json.dumps(asdict(passed)), ex=TOKEN_LIFETIME_SECONDS)
        return LivenessStart(biz_token, with_query(redirect_url, BizToken=biz_token))

    def result(self, biz_token: str) -> LivenessResult:
        if not BIZ_TOKEN.fullmatch(biz_token or ""):
            return LivenessResult("expired", "", None, "核身流程不存在或已过期")
        stored = get_redis().get(self._key(biz_token))
        if stored is None:
            return LivenessResult("expired", biz_token, None, "核身流程不存在或已过期")
        return LivenessResult(**json.loads(stored))

    @staticmethod
    def _key(biz_token: str) -> str:
        return f"liveness:local:{biz_token}"


def tc3_authorization(*, secret_id: str, secret_key: str, service: str, host: str, timestamp: int,
                      payload: bytes, content_type: str = "application/json; charset=utf-8") -> str:
    """The `Authorization` header of Tencent Cloud API 3.0 (TC3-HMAC-SHA256) for a POST to `/` signing
    content-type and host (both lower-case, as the canonical request wants them)."""
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(["POST", "/", "", f"content-type:{content_type.lower()}\nhost:{host}\n", "content-type;host",
                           hashlib.sha256(payload).hexdigest()])
    scope = f"{day}/{service}/tc3_request"
    to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest()])

    def mac(key: bytes, message: str) -> bytes:
        return hmac.new(key, message.encode(), hashlib.sha256).digest()

    signing_key = mac(mac(mac(("TC3" + secret_key).encode(), day), service), "tc3_request")
    signed = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signed}"


class TencentLiveness:
    """Tencent Cloud FaceID (version 2018-03-01): DetectAuth → {BizToken, Url}; GetDetectInfoEnhanced →
    Text {ErrCode (null while unfinished, 0 passed), ErrMsg, Sim, …}. A BizToken error code means expired."""

    name = "tencent"
    service, version, content_type = "faceid", "2018-03-01", "application/json; charset=utf-8"

    def __init__(self, api_base: str, secret_id: str, secret_key: str, rule_id: str, timeout: float):
        self.api_base, self.secret_id, self.secret_key = api_base, secret_id, secret_key
        self.rule_id, self.timeout = rule_id, timeout

    def start(self, *, name: str, id_number: str, id_photo: bytes | None, redirect_url: str,
              extra: str) -> LivenessStart:
        _check_start(name, redirect_url, extra, id_photo)
        body = {"RuleId": self.rule_id, "Name": name, "IdCard": id_number, "RedirectUrl": redirect_url,
                "Extra": extra}
        if id_photo:
            body["ImageBase64"] = base64.b64encode(id_photo).decode()
        answer = self._call("DetectAuth", body)
        biz_token, url = answer.get("BizToken"), answer.get("Url")
        if not isinstance(biz_token, str) or not biz_token or not isinstance(url, str) or not url:
            raise UpstreamError(UNAVAILABLE)
        return LivenessStart(biz_token, url)

    def result(self, biz_token: str) -> LivenessResult:
        if not BIZ_TOKEN.fullmatch(biz_token or ""):  # it may come from a URL someone typed
            return LivenessResult("expired", "", None, "核身流程不存在或已过期")
        try:
            answer = self._call("GetDetectInfoEnhanced", {"BizToken": biz_token, "RuleId": self.rule_id,
                                                          "InfoType": "1"})
        except _TokenRefused as refused:
            return LivenessResult("expired", biz_token, None, refused.message)
        text = answer.get("Text") or {}
        reference = biz_token
        code = text.get("ErrCode")
        similarity = _float(text.get("Sim"))
        if code is None:
            return LivenessResult("pending", reference, None, "")
        if code == 0:
            return LivenessResult("passed", reference, similarity, "")
        return LivenessResult("failed", reference, similarity, str(text.get("ErrMsg") or "人脸核身未通过"))

    def _call(self, action: str, body: dict) -> dict:
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(time.time())
        host = urlsplit(self.api_base).netloc.lower()
        headers = {"Content-Type": self.content_type, "Host": host, "X-TC-Action": action,
                   "X-TC-Version": self.version, "X-TC-Timestamp": str(timestamp),
                   "Authorization": tc3_authorization(secret_id=self.secret_id, secret_key=self.secret_key,
                                                      service=self.service, host=host, timestamp=timestamp,
                                                      payload=payload, content_type=self.content_type)}
        try:
            response = requests.post(self.api_base, data=payload, headers=headers, timeout=self.timeout)
            response.raise_for_status()
            answer = response.json()["Response"]
        except (requests.RequestException, ValueError, KeyError, TypeError) as failed:
            raise UpstreamError(UNAVAILABLE) from failed
        if not isinstance(answer, dict):
            raise UpstreamError(UNAVAILABLE)
        error = answer.get("Error")
        if error:
            code = str(error.get("Code", ""))
            log.warning("FaceID %s refused: %s %s (request %s)", action, code, error.get("Message"),
                        answer.get("RequestId"))
            if "BizToken" in code:
                raise _TokenRefused("核身流程不存在或已过期")
            raise UpstreamError(UNAVAILABLE)
        return answer


class _TokenRefused(Exception):
    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def _float(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def liveness_provider() -> LivenessProvider:
    """The provider LIVENESS_PROVIDER names; `local` refuses to run in production."""
    cfg = current_app.config
    if cfg["LIVENESS_PROVIDER"] == "local":
        if cfg["APP_ENV"] == "production":
            raise UpstreamError("人脸核身服务未配置")
        return LocalLiveness()
    if cfg["LIVENESS_PROVIDER"] == "tencent":
        return TencentLiveness(cfg["LIVENESS_API_BASE"], cfg["LIVENESS_SECRET_ID"], cfg["LIVENESS_SECRET_KEY"],
                               cfg["LIVENESS_RULE_ID"], cfg["LIVENESS_TIMEOUT_SECONDS"])
    raise ValueError(f"unknown LIVENESS_PROVIDER {cfg['LIVENESS_PROVIDER']!r}")

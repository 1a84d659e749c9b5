"""Text messages behind one interface, chosen by SMS_ADAPTER: `local` (development: each message written to
SMS_LOCAL_FILE) and `http` (an SMS gateway, signed both ways by `signed_http`).

The caller names a template (its text lives at the gateway, approved there) and passes every variable part in
`params`; anything secret (a PIN, a code) travels ONLY in `params`, which is never logged here — a log line names
the template, the masked mobile and the message id. The same idempotency key never sends a second message: it
answers the first message's id, so a retried job is safe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Protocol

from flask import current_app

from wxbackend.core.errors import DomainError, UpstreamError
from wxbackend.core.redis import get_redis
from wxbackend.core.times import utcnow
from wxbackend.integrations.signed_http import SignedJsonClient

log = logging.getLogger(__name__)

UNAVAILABLE = "短信服务暂时不可用，请稍后再试"
MOBILE = re.compile(r"1[3-9]\d{9}")


class SmsRefused(DomainError):
    """The gateway refused the message itself (unknown template, a number it cannot reach)."""

    code, message, status = "sms_refused", "短信发送被拒绝", 422


class SmsSender(Protocol):
    name: str

    def send(self, *, mobile: str, template: str, params: dict[str, str], idempotency_key: str) -> str: ...


def masked(mobile: str) -> str:
    return mobile[:3] + "****" + mobile[-4:] if len(mobile) >= 7 else "****"


class SmsRequestInvalid(DomainError, ValueError):
    """The message asked for cannot be sent as it is; nothing was sent."""

    code, message, status = "sms_request_invalid", "短信请求无效", 400


def _check(mobile: str, template: str, params: dict[str, str], idempotency_key: str) -> None:
    if not isinstance(mobile, str) or not MOBILE.fullmatch(mobile):
        raise SmsRequestInvalid("手机号码格式不正确")
    if not template or not idempotency_key or len(idempotency_key) > 64:
        raise SmsRequestInvalid("短信模板和幂等键（1至64个字符）不能为空")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in params.items()):
        raise SmsRequestInvalid("短信参数应为文字")


class LocalSms:
    """Development only: a message is 'sent' by appending one JSON line (params included, so the developer can
    read the PIN) to `path`, once per idempotency key (kept in Redis). Never used in production."""

    name = "local"

    def __init__(self, path: Path):
        self.path = path

    def send(self, *, mobile: str, template: str, params: dict[str, str], idempotency_key: str) -> str:
        _check(mobile, template, params, idempotency_key)
        message_id = "LOCAL" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20].upper()
        if get_redis().set(f"sms:local:{idempotency_key}", message_id, nx=True, ex=30 * 86400):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = {"time": utcnow().isoformat(), "message_id": message_id, "mobile": mobile, "template": template,
                    "params": params}
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
            log.info("sms %s to %s written to the local SMS file as %s", template, masked(mobile), message_id)
        return message_id


class HttpSms:
    """The SMS gateway: `POST {base}/messages` {mobile, template, params, idempotency_key} → {message_id};
    a refusal is 4xx {code, message}. Signed both ways (`signed_http`)."""

    name = "http"

    def __init__(self, client: SignedJsonClient):
        self.client = client

    def send(self, *, mobile: str, template: str, params: dict[str, str], idempotency_key: str) -> str:
        _check(mobile, template, params, idempotency_key)
        status, answer = self.client.call("POST", "/messages", {
            "mobile": mobile, "template": template, "params": params, "idempotency_key": idempotency_key})
        if status != 200:
            log.warning("sms %s to %s refused: %s", template, masked(mobile), answer.get("code"))
            raise SmsRefused(str(answer.get("message") or SmsRefused.message))
        message_id = answer.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise UpstreamError(UNAVAILABLE)
        log.info("sms %s to %s accepted as %s", template, masked(mobile), message_id)
        return message_id


def sms_sender() -> SmsSender:
    """The sender SMS_ADAPTER names; `local` refuses to run in production."""
    cfg = current_app.config
    if cfg["SMS_ADAPTER"] == "local":
        if cfg["APP_ENV"] == "production":
            raise UpstreamError("短信服务未配置")
        return LocalSms(Path(cfg["SMS_LOCAL_FILE"]))
    if cfg["SMS_ADAPTER"] == "http":
        return HttpSms(SignedJsonClient(cfg["SMS_URL"], cfg["SMS_APP_ID"], cfg["SMS_HMAC_KEY"],
                                        cfg["SMS_TIMEOUT_SECONDS"], UNAVAILABLE))
    raise ValueError(f"unknown SMS_ADAPTER {cfg['SMS_ADAPTER']!r}")

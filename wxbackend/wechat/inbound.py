"""What WeChat pushes to `/wechat`: verified before anything is parsed, parsed without a DTD, handled once.

Order of checks for a POST: body size → `signature` and timestamp (403) → any DOCTYPE/ENTITY (400) → in safe
and compatible mode `msg_signature` over the `Encrypt` element found without an XML parser (403) → decrypt and
appid (403) → the plain XML, again without DOCTYPE/ENTITY, parsed (400 when malformed).
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass

from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, _get_signature
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import BaseMessage
from wechatpy.utils import check_signature

from wxbackend.core.errors import DomainError, Forbidden

MAX_BODY_BYTES = 64 * 1024
MAX_CLOCK_SKEW = 300
DTD_MARKERS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
ENCRYPT_ELEMENT = re.compile(rb"<Encrypt>\s*(?:<!\[CDATA\[)?([A-Za-z0-9+/=]+)(?:\]\]>)?\s*</Encrypt>")


class BadSignature(Forbidden):
    code, message = "bad_signature", "签名无效"


class BadMessage(DomainError):
    code, message = "bad_message", "消息格式无效"


@dataclass(frozen=True)
class Endpoint:
    """The official account's message settings."""

    token: str
    aes_key: str
    app_id: str

    def prp(self) -> PrpCrypto:
        return PrpCrypto(base64.b64decode(self.aes_key + "="))


def check_request_signature(endpoint: Endpoint, args, now: float | None = None) -> None:
    """`signature` over token, timestamp and nonce, and a timestamp within ±300 s; BadSignature otherwise."""
    signature, timestamp, nonce = args.get("signature", ""), args.get("timestamp", ""), args.get("nonce", "")
    if not (signature and timestamp.isdigit() and nonce):
        raise BadSignature()
    try:
        check_signature(endpoint.token, signature, timestamp, nonce)
    except InvalidSignatureException:
        raise BadSignature() from None
    if abs((now or time.time()) - int(timestamp)) > MAX_CLOCK_SKEW:
        raise BadSignature("时间戳超出允许范围", code="stale_timestamp")


def refuse_dtd(body: bytes) -> None:
    """No DTD at all: entity expansion (billion laughs) and external entities can never start."""
    if DTD_MARKERS.search(body):
        raise BadMessage("消息中不允许 DOCTYPE 或 ENTITY", code="dtd_refused")


def open_message(endpoint: Endpoint, args, body: bytes) -> tuple[BaseMessage, bool]:
    """The verified message and whether the reply must be encrypted. Raises BadSignature / BadMessage."""
    if len(body) > MAX_BODY_BYTES:
        raise BadMessage("消息过大", code="too_large", status=413)
    check_request_signature(endpoint, args)
    refuse_dtd(body)
    encrypted = args.get("encrypt_type", "raw") == "aes"
    if encrypted:
        found = ENCRYPT_ELEMENT.search(body)
        if found is None:
            raise BadMessage("缺少 Encrypt 字段")
        encrypt = found.group(1).decode()
        expected = _get_signature(endpoint.token, args.get("timestamp", ""), args.get("nonce", ""), encrypt)
        if expected != args.get("msg_signature", ""):
            raise BadSignature("消息签名无效", code="bad_msg_signature")
        try:
            body = endpoint.prp().decrypt(encrypt, endpoint.app_id)
        except InvalidAppIdException:
            raise BadSignature("AppID 不匹配", code="wrong_appid") from None
        except Exception:  # wrong padding, length or key: not something WeChat sent
            raise BadMessage("无法解密消息") from None
        body = body if isinstance(body, bytes) else body.encode()
        refuse_dtd(body)
    try:
        message = parse_message(body)
    except Exception:  # expat errors, missing MsgType … all mean a malformed message
        raise BadMessage() from None
    if message is None:
        raise BadMessage()
    return message, encrypted


def dedupe_key(message: BaseMessage) -> str:
    """MsgId for messages; FromUserName + CreateTime + Event + EventKey for events (they have no MsgId)."""
    data = message._data
    if data.get("MsgId"):
        return f"wechat:seen:msg:{data['MsgId']}"
    parts = [data.get("FromUserName", ""), data.get("CreateTime", ""), data.get("Event", ""),
             data.get("EventKey") or ""]
    return "wechat:seen:evt:" + "|".join(str(part) for part in parts)

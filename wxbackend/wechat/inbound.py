"""What WeChat pushes to `/wechat`: verified before anything is parsed, parsed without a DTD, handled once.

Order of checks for a POST: body size → `signature` and timestamp (403) → with an EncodingAESKey configured,
`encrypt_type=aes` required (403: no plaintext once safe mode is set) → any DOCTYPE/ENTITY (400) → `msg_signature`
over the `Encrypt` element found without an XML parser (403) → decrypt and appid (403) → the plain XML, again
without DOCTYPE/ENTITY, parsed once and its shape checked: one text value per element, the fields every message
has, a numeric CreateTime (400 otherwise) → in `service.handle_message`, in the same Redis round trip as the
message's own mark, the request's (timestamp, nonce, signature) not seen before with another body (403).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from functools import cached_property, lru_cache
from xml.etree import ElementTree

from wechatpy.crypto import PrpCrypto, _get_signature
from wechatpy.events import EVENT_TYPES
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import MESSAGE_TYPES, BaseMessage, UnknownMessage
from wechatpy.utils import check_signature

from wxbackend.core.errors import DomainError, Forbidden

MAX_BODY_BYTES = 64 * 1024
MAX_CLOCK_SKEW = 300
DTD_MARKERS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
# A request's (timestamp, nonce, signature) is remembered this long: its timestamp is accepted for ±300 s around
# now, so a copy could still pass the clock check up to 600 s after the first arrived.
REPLAY_SECONDS = 2 * MAX_CLOCK_SKEW
REQUIRED_FIELDS = ("ToUserName", "FromUserName", "CreateTime", "MsgType")
ENCRYPT_ELEMENT = re.compile(rb"<Encrypt>\s*(?:<!\[CDATA\[)?([A-Za-z0-9+/=]+)(?:\]\]>)?\s*</Encrypt>")


class BadSignature(Forbidden):
    code, message = "bad_signature", "签名无效"


class BadMessage(DomainError):
    code, message = "bad_message", "消息格式无效"


@dataclass(frozen=True)
class Endpoint:
    """The official account's message settings, with the ciphers made from them once (`endpoint_for`)."""

    token: str
    aes_key: str
    app_id: str

    @cached_property
    def _prp(self) -> PrpCrypto:
        return PrpCrypto(base64.b64decode(self.aes_key + "="))

    def prp(self) -> PrpCrypto:
        return self._prp

    def encrypt_reply(self, reply: str) -> str:
        """The safe-mode envelope of `reply`, as wechatpy's `WeChatCrypto.encrypt_message` makes it (its cipher
        and signature), with the cipher made once instead of for every reply."""
        nonce, timestamp = secrets.token_hex(8), str(int(time.time()))
        encrypt = self._prp.encrypt(reply, self.app_id).decode()
        signature = _get_signature(self.token, timestamp, nonce, encrypt)
        return (f"<xml>\n<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
                f"\n<TimeStamp>{timestamp}</TimeStamp>\n<Nonce><![CDATA[{nonce}]]></Nonce>\n</xml>")


@lru_cache(maxsize=8)
def endpoint_for(token: str, aes_key: str, app_id: str) -> Endpoint:
    """The settings' Endpoint, made once per distinct settings (config can change in tests, so it is the key)."""
    return Endpoint(token, aes_key, app_id)


@dataclass(frozen=True)
class Opened:
    """A verified message. `replay_key` names the request's (timestamp, nonce, signatures) and `body_digest` its
    plain body: `service.handle_message` refuses the same parameters with another body (see `REPLAY_SECONDS`)."""

    message: BaseMessage
    encrypted: bool
    replay_key: str
    body_digest: str


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


def open_message(endpoint: Endpoint, args, body: bytes) -> Opened:
    """The verified message, whether the reply must be encrypted and its replay mark (checked together with the
    message's own mark, in one Redis round trip, by `service.handle_message`). Raises BadSignature / BadMessage."""
    if len(body) > MAX_BODY_BYTES:
        raise BadMessage("消息过大", code="too_large", status=413)
    check_request_signature(endpoint, args)
    refuse_dtd(body)
    encrypted = args.get("encrypt_type", "raw") == "aes"
    if endpoint.aes_key and not encrypted:
        # The plain `signature` covers token, timestamp and nonce, not the body: in safe mode only the encrypted
        # envelope, signed by `msg_signature`, proves that WeChat sent this message.
        raise BadSignature("已启用安全模式，只接受加密消息", code="encryption_required")
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
    fields = parse_fields(body)
    check_shape(fields)
    return Opened(message_of(fields), encrypted, replay_key(args), hashlib.sha256(body).hexdigest())


def parse_fields(body: bytes) -> dict[str, str | None]:
    """The `<xml>` element's children as name → text (trimmed; None when empty), read by expat through the C
    ElementTree — no DTD can be in the body (refused before), so nothing is expanded or fetched. BadMessage for
    anything but one `<xml>` root whose children are text only, without attributes, each at most once."""
    try:
        # expat, as xmltodict and wechatpy's parser used before: safe here because `refuse_dtd` has already turned
        # away any DOCTYPE or ENTITY (no entity can be declared, so none is expanded or fetched)
        root = ElementTree.fromstring(body)  # noqa: S314
    except ElementTree.ParseError:
        raise BadMessage() from None
    if root.tag != "xml":
        raise BadMessage()
    fields: dict[str, str | None] = {}
    for child in root:
        name = child.tag if isinstance(child.tag, str) else ""
        if not name or len(child) or child.attrib or name in fields:  # nested, attributed or repeated
            raise BadMessage(f"字段 {name[:40]} 格式无效")
        fields[name] = (child.text or "").strip() or None
    return fields


def message_of(fields: dict[str, str | None]) -> BaseMessage:
    """The wechatpy message or event for checked fields, chosen exactly as `wechatpy.parse_message` chooses it
    (which would parse the body a second time, in Python)."""
    message = dict(fields)
    message_type = message["MsgType"].lower()
    if message_type == "event" or message_type.startswith("device_"):
        event_type = message["Event"].lower() if message.get("Event") else None
        if event_type is None and message_type.startswith("device_"):
            event_type = message_type
        elif message_type.startswith("device_"):
            event_type = f"device_{event_type}"
        if event_type == "subscribe" and message.get("EventKey"):
            event_key = message["EventKey"]
            if event_key.startswith(("scanbarcode|", "scanimage|")):
                event_type = message["Event"] = "subscribe_scan_product"
            elif event_key.startswith("qrscene_"):
                event_type = message["Event"] = "subscribe_scan"
                message["EventKey"] = event_key[len("qrscene_"):]
        return EVENT_TYPES.get(event_type, UnknownMessage)(message)
    return MESSAGE_TYPES.get(message_type, UnknownMessage)(message)


def replay_key(args) -> str:
    """A request's (timestamp, nonce, signature) is used once. The same triple with the very same body is WeChat
    resending the request it got no answer for: it goes on (the message's own mark makes it act once); with another
    body it is someone reusing a genuine push's parameters: `ReplayedRequest`."""
    triple = "|".join((args.get("timestamp", ""), args.get("nonce", ""), args.get("signature", ""),
                       args.get("msg_signature", "")))
    return "wechat:request:" + hashlib.sha256(triple.encode()).hexdigest()


class ReplayedRequest(BadSignature):
    code, message = "replayed_request", "请求参数已被使用"


def check_shape(root: dict[str, str | None]) -> None:
    """The message's fields (`parse_fields`) include those every message has and a numeric CreateTime: anything
    else is not what WeChat sends (BadMessage)."""
    for name in REQUIRED_FIELDS:
        if not (root.get(name) or "").strip():
            raise BadMessage(f"缺少字段 {name}")
    created = root["CreateTime"].strip()
    if not (created.isascii() and created.isdigit() and len(created) <= 12):
        raise BadMessage("CreateTime 格式无效")


def dedupe_key(message: BaseMessage) -> str:
    """MsgId for messages; FromUserName + CreateTime + Event + EventKey for events (they have no MsgId)."""
    data = message._data
    if data.get("MsgId"):
        return f"wechat:seen:msg:{data['MsgId']}"
    parts = [data.get("FromUserName", ""), data.get("CreateTime", ""), data.get("Event", ""),
             data.get("EventKey") or ""]
    return "wechat:seen:evt:" + "|".join(str(part) for part in parts)

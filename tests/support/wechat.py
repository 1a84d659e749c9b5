"""Playing WeChat in tests: the fake API server's control endpoints, and messages pushed to `/wechat` signed
(and in safe mode encrypted) exactly as WeChat's servers do, with wechatpy's own crypto."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode

from wechatpy.crypto import WeChatCrypto

from tests.support.fakes import FakeServer

APP_ID, APP_SECRET = "wxa1b2c3d4e5f6a7b8", "official-secret-0123456789abcdef"
MINI_APP_ID, MINI_APP_SECRET = "wx0f1e2d3c4b5a6978", "mini-secret-0123456789abcdef0123"
TOKEN = "cagjtesttoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat's EncodingAESKey
TEMPLATES = {kind: f"TPL-{kind}" for kind in ("binding_success", "payment_received", "audit_result",
                                              "ready_to_write", "renewal_done", "invoice_issued", "expiry_reminder",
                                              "replacement_shipped", "replacement_delivered", "certificate_revoked")}
MINI_TEMPLATES = {kind: f"SUB-{kind}" for kind in TEMPLATES}


@dataclass
class FakeWeChat(FakeServer):
    def messages(self) -> list[dict]:
        return self.control("GET", "messages")

    def custom_messages(self) -> list[dict]:
        """The customer-service messages (客服消息) sent, in order."""
        return [m for m in self.messages() if m["kind"] == "custom"]

    def silent(self, openid: str, silent: bool = True) -> None:
        """The follower last wrote more than 48 hours ago: WeChat answers 45015 to a customer-service message."""
        self.control("POST", "silent", json={"openid": openid, "silent": silent})

    def fail(self, path: str, errcode: int, times: int = 1) -> None:
        self.control("POST", "fail", json={"path": path, "errcode": errcode, "times": times})

    def delay(self, path: str, seconds: float) -> None:
        self.control("POST", "delay", json={"path": path, "seconds": seconds})

    def user(self, openid: str, **kw) -> None:
        self.control("POST", "users", json={"openid": openid, **kw})

    def code(self, openid: str, unionid: str | None = None, snapshot: bool = False) -> str:
        return self.control("POST", "codes", json={"openid": openid, "unionid": unionid, "snapshot": snapshot})["code"]

    def expire_tokens(self) -> None:
        self.control("POST", "expire-tokens")


def sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signed_query(timestamp: int | None = None, nonce: str | None = None, token: str = TOKEN, **extra) -> dict:
    """The query WeChat signs a push with; a fresh nonce each time, as WeChat's (a repeated one is refused)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_hex(5)
    return {"signature": sha1_sorted(token, str(timestamp), nonce), "timestamp": str(timestamp), "nonce": nonce,
            **extra}


def text_xml(content: str, msg_id: int, openid: str = "oUSER1", create_time: int | None = None) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def event_xml(event: str, key: str = "", openid: str = "oUSER1", create_time: int | None = None) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>")


def crypto(app_id: str = APP_ID) -> WeChatCrypto:
    return WeChatCrypto(TOKEN, AES_KEY, app_id)


@contextmanager
def plain_mode(app) -> Iterator[None]:
    """The official account in plaintext mode (no EncodingAESKey configured), as some accounts run."""
    kept = app.config["WECHAT_AES_KEY"]
    app.config["WECHAT_AES_KEY"] = ""
    try:
        yield
    finally:
        app.config["WECHAT_AES_KEY"] = kept


def post_plain(client, xml: str, **query):
    """A plaintext push: accepted only in plain mode (`plain_mode`); refused once an EncodingAESKey is set."""
    return client.post("/wechat?" + urlencode(signed_query(**query)), data=xml.encode(),
                       content_type="text/xml")


def safe_push(xml: str, app_id: str = APP_ID, tamper_signature: bool = False, timestamp: int | None = None,
              nonce: str | None = None) -> tuple[dict, bytes]:
    """The query and body of a safe-mode push: WeChat's encrypted envelope, `msg_signature` over its Encrypt."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_hex(5)
    envelope = crypto(app_id).encrypt_message(xml, nonce, str(timestamp))
    msg_signature = envelope.split("<MsgSignature><![CDATA[")[1].split("]")[0]
    if tamper_signature:
        msg_signature = "0" * 40
    return signed_query(timestamp, nonce, encrypt_type="aes", msg_signature=msg_signature), envelope.encode()


def post_safe(client, xml: str, app_id: str = APP_ID, tamper_signature: bool = False, timestamp: int | None = None):
    """Safe mode: the body is WeChat's encrypted envelope; `msg_signature` signs its Encrypt element."""
    query, envelope = safe_push(xml, app_id, tamper_signature, timestamp)
    return client.post("/wechat?" + urlencode(query), data=envelope, content_type="text/xml")


def decrypt_reply(response) -> str:
    """The reply as WeChat would read it: wechatpy's WeChatCrypto checks its signature and decrypts it."""
    import xmltodict

    envelope = xmltodict.parse(response.data)["xml"]
    return crypto().decrypt_message(response.data, envelope["MsgSignature"], envelope["TimeStamp"],
                                    envelope["Nonce"])

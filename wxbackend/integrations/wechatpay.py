"""The WeChat Pay adapter (APIv3, DESIGN §9): wechatpayv3 in public-key mode at a configured gateway, with
explicit timeouts and one `WeChatPayError` for whatever WeChat Pay refuses or fails to answer; the parameters the
phone needs to pay (JSAPI in the official account's H5 pages, `wx.requestPayment` in the mini-program) with their
RSA signature; and `open_notification`, which checks a notification before anything in it is trusted.

`WECHAT_PAY_API_BASE` replaces `https://api.mch.weixin.qq.com`; tests and `make run` point it at the fake in
`fakes/wechatpay.py`. Public-key mode never downloads platform certificates: an answer or a notification signed
under any serial other than `WECHAT_PAY_PUBLIC_KEY_ID` is refused without a network call.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import current_app
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.core import Core
from wechatpayv3.utils import aes_decrypt

from wxbackend.core.errors import DomainError, UpstreamError
from wxbackend.core.times import SHANGHAI

log = logging.getLogger(__name__)

REAL_API_BASE = "https://api.mch.weixin.qq.com"
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"  # WeChat Pay's probe: a deliberately wrong signature
MAX_CLOCK_SKEW_SECONDS = 300
NOTIFY_PATH = "/pay/wechat/notify"
REFUND_NOTIFY_PATH = "/pay/wechat/refund-notify"


class WeChatPayError(UpstreamError):
    """WeChat Pay answered with an error (`http_status`, its `wx_code` such as ORDERPAID), or could not be reached
    or its answer could not be verified (`http_status` None)."""

    def __init__(self, http_status: int | None, wx_code: str = "", detail: str = ""):
        self.http_status = http_status
        self.wx_code = wx_code
        self.detail = detail
        super().__init__()

    def __str__(self) -> str:
        return f"WeChat Pay error {self.http_status} {self.wx_code}: {self.detail}"


class WeChatPayUnavailable(DomainError):
    code, message, status = "wechat_pay_unavailable", "微信支付暂未开通，请选择对公转账或稍后再试", 503


class NotificationRefused(DomainError):
    """A notification that is not, or not provably, from WeChat Pay. Nothing in it was used."""

    code, message, status = "notification_refused", "通知验证失败", 401


class PublicKeyCore(Core):
    """wechatpayv3's request core at a configured gateway, never downloading platform certificates."""

    def __init__(self, gateway: str, **kwargs: Any):
        super().__init__(**kwargs)
        self._gate_way = gateway.rstrip("/")

    def _update_certificates(self) -> None:
        # The library would GET /v3/certificates for an unknown serial; in public-key mode such an answer is
        # simply not verified (and so refused).
        log.warning("WeChat Pay answer signed under a serial other than the configured public key id")
        self._certificates.clear()


class PayClient(WeChatPay):
    """A wechatpayv3 client (JSAPI; the appid is given per call) whose requests go to `gateway`."""

    def __init__(self, gateway: str, **kwargs: Any):
        super().__init__(wechatpay_type=WeChatPayType.JSAPI, **kwargs)
        self._core = PublicKeyCore(gateway, mchid=kwargs["mchid"], cert_serial_no=kwargs["cert_serial_no"],
                                   private_key=kwargs["private_key"], apiv3_key=kwargs["apiv3_key"],
                                   timeout=kwargs["timeout"], public_key=kwargs["public_key"],
                                   public_key_id=kwargs["public_key_id"])


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="ascii")
    except OSError as exc:
        log.error("cannot read the %s file %s: %s", what, path, exc.strerror)
        raise WeChatPayUnavailable() from exc


def client() -> PayClient:
    """This process's client, built once from config. WeChatPayUnavailable when the merchant is not configured."""
    cfg = current_app.config
    if not (cfg["WECHAT_PAY_MCH_ID"] and cfg["WECHAT_PAY_PUBLIC_KEY_ID"] and cfg["WECHAT_PAY_PRIVATE_KEY_PATH"]):
        raise WeChatPayUnavailable()
    cached = current_app.extensions.get("wechatpay_client")
    if cached is None:
        timeout = cfg["WECHAT_PAY_TIMEOUT_SECONDS"]
        try:
            cached = PayClient(
                cfg["WECHAT_PAY_API_BASE"], mchid=cfg["WECHAT_PAY_MCH_ID"],
                private_key=_read(cfg["WECHAT_PAY_PRIVATE_KEY_PATH"], "merchant private key"),
                cert_serial_no=cfg["WECHAT_PAY_CERT_SERIAL"], appid=cfg["WECHAT_APP_ID"],
                apiv3_key=cfg["WECHAT_PAY_API_V3_KEY"], notify_url=notify_url(), timeout=(timeout, timeout),
                public_key=_read(cfg["WECHAT_PAY_PUBLIC_KEY_PATH"], "WeChat Pay public key"),
                public_key_id=cfg["WECHAT_PAY_PUBLIC_KEY_ID"])
        except WeChatPayUnavailable:
            raise
        except Exception as exc:  # wechatpayv3 raises bare Exception for keys it cannot load
            log.error("WeChat Pay client not built: %s", exc)
            raise WeChatPayUnavailable() from exc
        current_app.extensions["wechatpay_client"] = cached
    return cached


def notify_url() -> str:
    cfg = current_app.config
    return cfg["WECHAT_PAY_NOTIFY_URL"] or cfg["PUBLIC_BASE_URL"].rstrip("/") + NOTIFY_PATH


def refund_notify_url() -> str:
    cfg = current_app.config
    return cfg["WECHAT_PAY_REFUND_NOTIFY_URL"] or cfg["PUBLIC_BASE_URL"].rstrip("/") + REFUND_NOTIFY_PATH


def _call(what: str, func: Callable[..., tuple[int, Any]], **kwargs: Any) -> tuple[int, dict]:
    """Run one wechatpayv3 call: (HTTP status, JSON answer). WeChatPayError when WeChat Pay could not be reached,
    its answer was not signed by the configured public key, or it answered with an error."""
    try:
        status, text = func(**kwargs)
    except requests.RequestException as exc:
        log.warning("WeChat Pay %s failed: %s", what, type(exc).__name__)
        raise WeChatPayError(None, "", f"{what}: {type(exc).__name__}") from exc
    except Exception as exc:  # wechatpayv3 raises bare Exception, e.g. "failed to verify the signature"
        log.warning("WeChat Pay %s failed: %s", what, exc)
        raise WeChatPayError(None, "", f"{what}: {exc}") from exc
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        answer = json.loads(text) if text else {}
    except ValueError:
        answer = {}
    if not 200 <= status < 300:
        log.warning("WeChat Pay %s refused: %s %s %s", what, status, answer.get("code"), answer.get("message"))
        raise WeChatPayError(status, str(answer.get("code", "")), str(answer.get("message", ""))[:200])
    return status, answer


def create_jsapi_prepay(*, appid: str, openid: str, out_trade_no: str, description: str, amount_fen: int,
                        expires_at: datetime) -> str:
    """A JSAPI / mini-program order at WeChat Pay for `openid` of `appid`; its prepay_id (valid 2 hours)."""
    _, answer = _call("prepay", client().pay, description=description[:127], out_trade_no=out_trade_no,
                      amount={"total": amount_fen, "currency": "CNY"}, payer={"openid": openid},
                      time_expire=expires_at.astimezone(SHANGHAI).isoformat(timespec="seconds"),
                      notify_url=notify_url(), appid=appid, pay_type=WeChatPayType.JSAPI)
    if not answer.get("prepay_id"):
        raise WeChatPayError(200, "", "prepay answer without prepay_id")
    return answer["prepay_id"]


def pay_parameters(appid: str, prepay_id: str) -> dict[str, str]:
    """What `WeixinJSBridge.invoke('getBrandWCPayRequest', …)` and `wx.requestPayment` take: the merchant's
    RSA-SHA256 signature over appId, timeStamp, nonceStr and package, one per line."""
    timestamp, nonce, package = str(int(time.time())), secrets.token_hex(16), f"prepay_id={prepay_id}"
    pay_sign = client().sign([appid, timestamp, nonce, package])
    return {"appId": appid, "timeStamp": timestamp, "nonceStr": nonce, "package": package, "signType": "RSA",
            "paySign": pay_sign}


def query_transaction(out_trade_no: str) -> dict | None:
    """What WeChat Pay knows of `out_trade_no` (trade_state, transaction_id, amount …); None when it has no such
    order (ORDER_NOT_EXIST)."""
    try:
        return _call("query", client().query, out_trade_no=out_trade_no)[1]
    except WeChatPayError as refused:
        if refused.http_status == 404 or refused.wx_code == "ORDER_NOT_EXIST":
            return None
        raise


def close_transaction(out_trade_no: str) -> None:
    """Close an unpaid order at WeChat Pay so it can no longer be paid. WeChatPayError `ORDERPAID` when it was."""
    _call("close", client().close, out_trade_no=out_trade_no)


def request_refund(*, out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int, reason: str) -> dict:
    """Ask WeChat Pay to pay `refund_fen` of a paid order back to the payer. Asking again with the same
    `out_refund_no` is answered with the same refund, never a second one. The answer's `status` is usually
    PROCESSING; the result comes by refund notification (or `query_refund`)."""
    return _call("refund", client().refund, out_refund_no=out_refund_no, out_trade_no=out_trade_no,
                 amount={"refund": refund_fen, "total": total_fen, "currency": "CNY"}, reason=reason[:80] or None,
                 notify_url=refund_notify_url())[1]


def query_refund(out_refund_no: str) -> dict | None:
    """What WeChat Pay knows of a refund (status SUCCESS | CLOSED | PROCESSING | ABNORMAL); None when unknown."""
    try:
        return _call("refund query", client().query_refund, out_refund_no=out_refund_no)[1]
    except WeChatPayError as refused:
        if refused.http_status == 404 or refused.wx_code == "RESOURCE_NOT_EXISTS":
            return None
        raise


# --- notifications --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """A notification proved to come from WeChat Pay, its resource decrypted."""

    id: str
    event_type: str  # TRANSACTION.SUCCESS, REFUND.SUCCESS, REFUND.ABNORMAL, REFUND.CLOSED
    resource: dict


def _platform_public_key(path: str) -> rsa.RSAPublicKey:
    keys = current_app.extensions.setdefault("wechatpay_public_keys", {})
    if path not in keys:
        key = serialization.load_pem_public_key(_read(path, "WeChat Pay public key").encode())
        if not isinstance(key, rsa.RSAPublicKey):
            raise WeChatPayUnavailable()
        keys[path] = key
    return keys[path]


def _refuse(code: str, message: str, status: int = 401) -> NotificationRefused:
    return NotificationRefused(message, code=code, status=status)


def open_notification(headers: Mapping[str, str], body: bytes) -> Notification:
    """Check a notification POSTed to us, in this order, and decrypt it. NotificationRefused at the first failure:
    signature headers missing; `Wechatpay-Serial` other than the configured public key id (refused without any
    network call); timestamp more than 300 s from now; RSA-SHA256 signature over `timestamp\\nnonce\\nbody\\n`
    not made by the WeChat Pay public key (WeChat's `WECHATPAY/SIGNTEST/` probe is refused here too); a body that
    is not an AEAD_AES_256_GCM resource decrypting under the APIv3 key."""
    cfg = current_app.config
    signature = headers.get("Wechatpay-Signature", "")
    timestamp = headers.get("Wechatpay-Timestamp", "")
    nonce = headers.get("Wechatpay-Nonce", "")
    serial = headers.get("Wechatpay-Serial", "")
    if not (signature and timestamp and nonce and serial):
        log.warning("WeChat Pay notification without signature headers refused")
        raise _refuse("missing_signature", "缺少签名", 400)
    if not cfg["WECHAT_PAY_PUBLIC_KEY_ID"] or serial != cfg["WECHAT_PAY_PUBLIC_KEY_ID"]:
        log.warning("WeChat Pay notification under unknown serial %r refused", serial[:64])
        raise _refuse("unknown_serial", "未知的平台公钥")
    if headers.get("Wechatpay-Signature-Type", SIGNATURE_TYPE) != SIGNATURE_TYPE:
        raise _refuse("unsupported_signature_type", "不支持的签名类型")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        log.warning("WeChat Pay notification with stale timestamp %r refused", timestamp[:20])
        raise _refuse("stale_timestamp", "通知已过期")
    message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    if not _signed_by(_platform_public_key(cfg["WECHAT_PAY_PUBLIC_KEY_PATH"]), message, signature):
        if signature.startswith(SIGNTEST_PREFIX):
            log.info("WeChat Pay signature probe (SIGNTEST) answered as a failure")
            raise _refuse("signtest", "签名验证失败")
        log.warning("WeChat Pay notification with a bad signature refused")
        raise _refuse("bad_signature", "签名验证失败")
    try:
        envelope = json.loads(body)
        resource = envelope["resource"]
        if envelope.get("resource_type") != "encrypt-resource" or resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise ValueError("not an encrypted resource")
        plaintext = aes_decrypt(nonce=resource["nonce"], ciphertext=resource["ciphertext"],
                                associated_data=resource.get("associated_data") or "",
                                apiv3_key=cfg["WECHAT_PAY_API_V3_KEY"])
        if plaintext is None:
            raise ValueError("AES-GCM tag mismatch")
        decrypted = json.loads(plaintext)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        log.error("signed WeChat Pay notification could not be decrypted: %s", exc)
        raise _refuse("decrypt_failed", "通知解密失败", 400) from exc
    return Notification(str(envelope.get("id", "")), str(envelope.get("event_type", "")), decrypted)


def _signed_by(public_key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature, validate=True), message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True

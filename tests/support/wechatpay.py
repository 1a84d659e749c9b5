"""Playing WeChat Pay in tests: merchant keys made for the run, the fake gateway's control endpoints, and
notifications delivered to our endpoints exactly as WeChat Pay would POST them."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from fakes.server import RunningFake, serve_in_thread
from fakes.wechatpay import create_fake_wechatpay, new_rsa_key, private_pem, public_pem
from tests.support.fakes import FakeServer

MCH_ID = "1900000109"
API_V3_KEY = "cagjTestApiV3Key0123456789abcdef"  # 32 characters, as WeChat Pay's APIv3 key
MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
NOTIFY_PATH = "/pay/wechat/notify"
REFUND_NOTIFY_PATH = "/pay/wechat/refund-notify"


@dataclass(frozen=True)
class MerchantKeys:
    private_key_path: Path
    public_key_pem: str


def make_merchant_keys(directory: Path) -> MerchantKeys:
    """A fresh merchant API key pair; the private key in `directory` as the backend's config expects it."""
    key = new_rsa_key()
    path = directory / "apiclient_key.pem"
    path.write_text(private_pem(key))
    return MerchantKeys(path, public_pem(key))


def write_platform_public_key(directory: Path, pem: str) -> Path:
    path = directory / "pub_key.pem"
    path.write_text(pem)
    return path


@dataclass(frozen=True)
class RunningGateway:
    running: RunningFake
    merchant: MerchantKeys
    settings: dict  # the WECHAT_PAY_* config keys pointing the backend at this gateway

    @property
    def base_url(self) -> str:
        return self.running.base_url


def start_fake_wechatpay(directory: Path) -> RunningGateway:
    """Merchant keys in `directory`, the fake gateway on a free port with its own platform key, and the settings."""
    merchant = make_merchant_keys(directory)
    app = create_fake_wechatpay(MCH_ID, merchant.public_key_pem, API_V3_KEY, merchant_serial=MERCHANT_SERIAL)
    running = serve_in_thread(app)
    settings = {
        "WECHAT_PAY_MCH_ID": MCH_ID, "WECHAT_PAY_API_V3_KEY": API_V3_KEY,
        "WECHAT_PAY_PRIVATE_KEY_PATH": str(merchant.private_key_path), "WECHAT_PAY_CERT_SERIAL": MERCHANT_SERIAL,
        "WECHAT_PAY_PUBLIC_KEY_PATH": str(write_platform_public_key(directory, app.config["PLATFORM_PUBLIC_KEY_PEM"])),
        "WECHAT_PAY_PUBLIC_KEY_ID": app.config["PUBLIC_KEY_ID"], "WECHAT_PAY_API_BASE": running.base_url.rstrip("/"),
    }
    return RunningGateway(running, merchant, settings)


@dataclass(frozen=True)
class Notification:
    url: str
    headers: dict[str, str]
    body: str


@dataclass
class FakeWeChatPay(FakeServer):
    merchant_public_key_pem: str

    def api_calls(self) -> int:
        return sum(self.calls().values())

    def transaction(self, out_trade_no: str) -> dict:
        return self.control("GET", f"transactions/{out_trade_no}")

    def fail(self, path: str, status: int = 500, code: str = "SYSTEM_ERROR", times: int = 1) -> None:
        self.control("POST", "fail", json={"path": path, "status": status, "code": code, "times": times})

    def sign_answers(self, variant: str | None) -> None:
        """Answers signed with another key ("bad_key") or under another serial ("unknown_serial"); None: right."""
        self.control("POST", "answer-signature", json={"variant": variant})

    def pay(self, out_trade_no: str, variant: str | None = None, resource: dict | None = None,
            pay: bool = True) -> Notification:
        """The payer pays; the notification WeChat Pay would send (not delivered)."""
        answer = self.control("POST", "pay", json={"out_trade_no": out_trade_no, "variant": variant,
                                                   "resource": resource or {}, "pay": pay})
        return Notification(answer["url"], answer["headers"], answer["body"])

    def finish_refund(self, out_refund_no: str, status: str = "SUCCESS", variant: str | None = None) -> Notification:
        answer = self.control("POST", "refund", json={"out_refund_no": out_refund_no, "status": status,
                                                      "variant": variant})
        return Notification(answer["url"], answer["headers"], answer["body"])


def deliver(client, notification: Notification, path: str = NOTIFY_PATH):
    """POST the notification to our endpoint through a Flask test client, byte for byte."""
    return client.post(path, data=notification.body.encode(), headers=notification.headers)


def pay_sign_verifies(params: dict, merchant_public_key_pem: str) -> bool:
    """Does `paySign` verify, with the merchant's public key, over appId, timeStamp, nonceStr and package?"""
    key = serialization.load_pem_public_key(merchant_public_key_pem.encode())
    message = "".join(f"{params[k]}\n" for k in ("appId", "timeStamp", "nonceStr", "package")).encode()
    try:
        key.verify(base64.b64decode(params["paySign"]), message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True

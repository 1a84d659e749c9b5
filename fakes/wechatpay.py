"""A fake of WeChat Pay's APIv3 (`api.mch.weixin.qq.com`) on 127.0.0.1, in public-key mode.

It holds its own RSA "platform" key pair: the backend is configured with its public key and id (`PUB_KEY_ID_…`).
Every request must carry the merchant's `Authorization: WECHATPAY2-SHA256-RSA2048 …` signature (else 401
SIGN_ERROR); every answer is signed with the platform key (`Wechatpay-Signature`, `-Timestamp`, `-Nonce`,
`-Serial`, `-Signature-Type` headers), as the real one does. It answers

- `POST /v3/pay/transactions/jsapi` (the same out_trade_no with the same content gives the same prepay_id)
- `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=` and `POST …/{out_trade_no}/close`
- `POST /v3/refund/domestic/refunds` and `GET /v3/refund/domestic/refunds/{out_refund_no}`

and counts every call. Tests and `make run` drive it through `/_fake/…` control endpoints:

- `POST /_fake/reset`, `GET /_fake/calls` ("METHOD path" → count), `GET /_fake/transactions/{out_trade_no}`,
  `GET /_fake/platform-key` (`{public_key_id, public_key_pem}`)
- `POST /_fake/pay {out_trade_no, variant?, resource?, pay?, deliver?}`: the payer pays (unless `pay` is false)
  and the answer is the notification WeChat Pay would POST to the order's notify_url: `{url, headers, body}`.
  `variant`: none (correct), `tampered` (body changed after signing), `stale` (signed 10 minutes ago),
  `signtest` (WeChat's `WECHATPAY/SIGNTEST/` probe), `unknown_serial` (another key and serial), `bad_key`
  (signed with another key under the right serial). `resource` overrides fields of the encrypted transaction
  (e.g. `{"amount": {"total": 1}}`). `deliver: true` POSTs it to the notify_url (127.0.0.1 only) and adds
  `delivered` (the status code).
- `POST /_fake/refund {out_refund_no, status?, variant?, deliver?}`: the refund ends (SUCCESS by default,
  ABNORMAL, CLOSED) and the answer is the refund notification, as above.
- `POST /_fake/fail {path, status, code, times}`: the next `times` calls to `path` fail so.
- `POST /_fake/answer-signature {variant}`: answers signed with another key (`bad_key`) or under another serial
  (`unknown_serial`), or correctly again (null) — the backend must refuse such answers.

Run alone: `python -m fakes.wechatpay --port 5102 --keys var/wechatpay` (creates the merchant and platform keys
there once, and writes `wechatpay.env` there: the WECHAT_PAY_* settings that make the backend use this fake).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, Response, jsonify, request

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
CHINA = timezone(timedelta(hours=8))
AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
VARIANTS = {None, "", "tampered", "stale", "signtest", "unknown_serial", "bad_key"}


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def public_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def china_time(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).astimezone(CHINA).isoformat(timespec="seconds")


@dataclass
class Transaction:
    appid: str
    mchid: str
    out_trade_no: str
    description: str
    notify_url: str
    total: int
    openid: str
    time_expire: str
    prepay_id: str
    trade_state: str = "NOTPAY"
    transaction_id: str | None = None
    success_time: str | None = None
    refunded: int = 0

    def resource(self) -> dict:
        """The transaction as WeChat Pay shows it (query answer and, encrypted, the notification)."""
        answer = {"appid": self.appid, "mchid": self.mchid, "out_trade_no": self.out_trade_no,
                  "trade_type": "JSAPI", "trade_state": self.trade_state,
                  "trade_state_desc": {"SUCCESS": "支付成功", "NOTPAY": "未支付", "CLOSED": "已关闭",
                                       "REFUND": "转入退款"}.get(self.trade_state, ""),
                  "attach": "", "payer": {"openid": self.openid},
                  "amount": {"total": self.total, "currency": "CNY"}}
        if self.transaction_id:
            answer.update(transaction_id=self.transaction_id, bank_type="OTHERS", success_time=self.success_time)
            answer["amount"].update(payer_total=self.total, payer_currency="CNY")
        return answer


@dataclass
class FakeRefund:
    out_refund_no: str
    refund_id: str
    out_trade_no: str
    transaction_id: str
    refund: int
    total: int
    notify_url: str
    reason: str
    status: str = "PROCESSING"
    create_time: str = field(default_factory=china_time)
    success_time: str | None = None

    def answer(self) -> dict:
        result = {"refund_id": self.refund_id, "out_refund_no": self.out_refund_no,
                  "transaction_id": self.transaction_id, "out_trade_no": self.out_trade_no, "channel": "ORIGINAL",
                  "user_received_account": "支付用户零钱", "create_time": self.create_time, "status": self.status,
                  "funds_account": "AVAILABLE",
                  "amount": {"total": self.total, "refund": self.refund, "payer_total": self.total,
                             "payer_refund": self.refund, "settlement_refund": self.refund,
                             "settlement_total": self.total, "discount_refund": 0, "currency": "CNY"}}
        if self.success_time:
            result["success_time"] = self.success_time
        return result


@dataclass
class PayState:
    transactions: dict[str, Transaction] = field(default_factory=dict)
    refunds: dict[str, FakeRefund] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)
    failures: dict[str, list] = field(default_factory=dict)  # path -> [status, code, times left]
    answer_variant: str | None = None  # answers signed with another key ("bad_key") or serial ("unknown_serial")
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_fake_wechatpay(mchid: str, merchant_public_key_pem: str, api_v3_key: str, *,
                          platform_private_key_pem: str | None = None, public_key_id: str | None = None,
                          merchant_serial: str | None = None) -> Flask:
    """The fake for one merchant: requests must be signed by the key whose public half is
    `merchant_public_key_pem` (and name `merchant_serial`, when given); notifications are encrypted with
    `api_v3_key`. Its platform public key and id are in `app.config["PLATFORM_PUBLIC_KEY_PEM"]` and
    `["PUBLIC_KEY_ID"]`."""
    app = Flask("fake_wechatpay")
    app.json.ensure_ascii = False
    merchant_key = serialization.load_pem_public_key(merchant_public_key_pem.encode())
    platform_key = (serialization.load_pem_private_key(platform_private_key_pem.encode(), password=None)
                    if platform_private_key_pem else new_rsa_key())
    key_id = public_key_id or "PUB_KEY_ID_" + secrets.token_hex(14).upper()
    aes = AESGCM(api_v3_key.encode())
    state = PayState()
    app.extensions["fake_wechatpay"] = state
    app.config.update(PLATFORM_PUBLIC_KEY_PEM=public_pem(platform_key), PUBLIC_KEY_ID=key_id, MCH_ID=mchid)

    def signed_headers(body: str, *, key: rsa.RSAPrivateKey | None = None, serial: str | None = None,
                       timestamp: int | None = None) -> dict[str, str]:
        ts, nonce = str(timestamp or int(time.time())), secrets.token_hex(16)
        return {"Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nonce, "Wechatpay-Serial": serial or key_id,
                "Wechatpay-Signature": rsa_sign(key or platform_key, f"{ts}\n{nonce}\n{body}\n".encode()),
                "Wechatpay-Signature-Type": SIGNATURE_TYPE, "Request-ID": str(uuid.uuid4())}

    def answer(payload: dict | None, status: int = 200) -> Response:
        body = json.dumps(payload, ensure_ascii=False) if payload is not None else ""
        response = Response(body, status=status)
        if body:
            response.headers["Content-Type"] = "application/json; charset=utf-8"
        else:
            response.headers.pop("Content-Type", None)
        if state.answer_variant == "bad_key":
            response.headers.update(signed_headers(body, key=new_rsa_key()))
        elif state.answer_variant == "unknown_serial":
            response.headers.update(signed_headers(body, key=new_rsa_key(), serial="PUB_KEY_ID_" + "0" * 28))
        else:
            response.headers.update(signed_headers(body))
        return response

    def refuse(status: int, code: str, message: str) -> Response:
        return answer({"code": code, "message": message}, status)

    def merchant_signature_error() -> str | None:
        scheme, _, params = request.headers.get("Authorization", "").partition(" ")
        if scheme != SIGNATURE_TYPE:
            return "Authorization 缺失或认证类型错误"
        values = dict(AUTH_PARAM.findall(params))
        if values.get("mchid") != mchid:
            return "商户号与签名不符"
        if merchant_serial and values.get("serial_no") != merchant_serial:
            return "商户证书序列号有误"
        ts = values.get("timestamp", "")
        if not ts.isdigit() or abs(time.time() - int(ts)) > 300:
            return "签名时间戳已过期"
        target = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path
        message = (f"{request.method}\n{target}\n{ts}\n{values.get('nonce_str', '')}\n".encode()
                   + request.get_data() + b"\n")
        try:
            merchant_key.verify(base64.b64decode(values.get("signature", "")), message, padding.PKCS1v15(),
                                hashes.SHA256())
        except (InvalidSignature, ValueError):
            return "签名错误"
        return None

    @app.before_request
    def count_and_authenticate():
        if request.path.startswith("/_fake/"):
            return None
        with state.lock:
            state.calls[f"{request.method} {request.path}"] += 1
            failure = state.failures.get(request.path)
            if failure and failure[2] > 0:
                failure[2] -= 1
                return refuse(failure[0], failure[1], "模拟的失败")
        problem = merchant_signature_error()
        if problem:
            return refuse(401, "SIGN_ERROR", problem)
        return None

    @app.errorhandler(404)
    def not_found(_error):
        return refuse(404, "NOT_FOUND", "接口不存在")

    # --- the API --------------------------------------------------------------------------------------------
    @app.post("/v3/pay/transactions/jsapi")
    def jsapi():
        body = request.get_json(silent=True) or {}
        missing = [k for k in ("appid", "mchid", "description", "out_trade_no", "notify_url", "amount", "payer")
                   if not body.get(k)]
        total = (body.get("amount") or {}).get("total")
        if missing or not isinstance(total, int) or total <= 0 or not (body.get("payer") or {}).get("openid"):
            return refuse(400, "PARAM_ERROR", f"参数错误 {missing}")
        if body["mchid"] != mchid:
            return refuse(400, "MCH_NOT_EXISTS", "商户号不存在")
        if not re.fullmatch(r"[0-9A-Za-z_\-|*]{6,32}", body["out_trade_no"]):
            return refuse(400, "PARAM_ERROR", "out_trade_no 格式错误")
        with state.lock:
            existing = state.transactions.get(body["out_trade_no"])
            if existing is not None:
                if existing.trade_state in ("SUCCESS", "REFUND"):
                    return refuse(400, "ORDERPAID", "该订单已支付")
                if existing.trade_state == "CLOSED":
                    return refuse(400, "ORDER_CLOSED", "订单已关闭")
                if (existing.appid, existing.total, existing.openid) != (body["appid"], total,
                                                                         body["payer"]["openid"]):
                    return refuse(400, "INVALID_REQUEST", "201 商户订单号重复")
                return answer({"prepay_id": existing.prepay_id})
            transaction = Transaction(
                appid=body["appid"], mchid=mchid, out_trade_no=body["out_trade_no"],
                description=body["description"], notify_url=body["notify_url"], total=total,
                openid=body["payer"]["openid"], time_expire=body.get("time_expire", ""),
                prepay_id="wx" + datetime.now(CHINA).strftime("%d%H%M%S") + secrets.token_hex(12))
            state.transactions[transaction.out_trade_no] = transaction
        return answer({"prepay_id": transaction.prepay_id})

    @app.get("/v3/pay/transactions/out-trade-no/<out_trade_no>")
    def query(out_trade_no: str):
        if request.args.get("mchid") != mchid:
            return refuse(400, "PARAM_ERROR", "mchid 与订单不符")
        with state.lock:
            transaction = state.transactions.get(out_trade_no)
            if transaction is None:
                return refuse(404, "ORDER_NOT_EXIST", "订单不存在")
            return answer(transaction.resource())

    @app.post("/v3/pay/transactions/out-trade-no/<out_trade_no>/close")
    def close(out_trade_no: str):
        if (request.get_json(silent=True) or {}).get("mchid") != mchid:
            return refuse(400, "PARAM_ERROR", "mchid 与订单不符")
        with state.lock:
            transaction = state.transactions.get(out_trade_no)
            if transaction is None:
                return refuse(404, "ORDER_NOT_EXIST", "订单不存在")
            if transaction.trade_state in ("SUCCESS", "REFUND"):
                return refuse(400, "ORDERPAID", "该订单已支付")
            transaction.trade_state = "CLOSED"
        return answer(None, 204)

    @app.post("/v3/refund/domestic/refunds")
    def refund():
        body = request.get_json(silent=True) or {}
        amount = body.get("amount") or {}
        if not body.get("out_refund_no") or not isinstance(amount.get("refund"), int) or amount["refund"] <= 0:
            return refuse(400, "PARAM_ERROR", "参数错误")
        with state.lock:
            transaction = state.transactions.get(body.get("out_trade_no") or "") or next(
                (t for t in state.transactions.values()
                 if t.transaction_id and t.transaction_id == body.get("transaction_id")), None)
            if transaction is None:
                return refuse(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            existing = state.refunds.get(body["out_refund_no"])
            if existing is not None:
                if existing.out_trade_no != transaction.out_trade_no or existing.refund != amount["refund"]:
                    return refuse(400, "INVALID_REQUEST", "退款单号重复，但参数不一致")
                return answer(existing.answer())
            if transaction.trade_state not in ("SUCCESS", "REFUND"):
                return refuse(400, "INVALID_REQUEST", "订单未支付，不能退款")
            if amount.get("total") != transaction.total:
                return refuse(400, "PARAM_ERROR", "订单金额与原订单不符")
            if amount["refund"] > transaction.total - transaction.refunded:
                return refuse(400, "INVALID_REQUEST", "退款金额超过订单可退金额")
            transaction.refunded += amount["refund"]
            transaction.trade_state = "REFUND"
            created = FakeRefund(out_refund_no=body["out_refund_no"], refund_id="50" + secrets.token_hex(14)[:27],
                                 out_trade_no=transaction.out_trade_no, transaction_id=transaction.transaction_id,
                                 refund=amount["refund"], total=transaction.total,
                                 notify_url=body.get("notify_url", ""), reason=body.get("reason", ""))
            state.refunds[created.out_refund_no] = created
            return answer(created.answer())

    @app.get("/v3/refund/domestic/refunds/<out_refund_no>")
    def query_refund(out_refund_no: str):
        with state.lock:
            found = state.refunds.get(out_refund_no)
            if found is None:
                return refuse(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            return answer(found.answer())

    # --- notifications -----------------------------------------------------------------------------------------
    def notification(event_type: str, summary: str, original_type: str, resource: dict,
                     variant: str | None) -> dict:
        nonce = secrets.token_hex(6)
        plaintext = json.dumps(resource, ensure_ascii=False).encode()
        ciphertext = aes.encrypt(nonce.encode(), plaintext, original_type.encode())
        envelope = {"id": str(uuid.uuid4()), "create_time": china_time(), "resource_type": "encrypt-resource",
                    "event_type": event_type, "summary": summary,
                    "resource": {"original_type": original_type, "algorithm": "AEAD_AES_256_GCM",
                                 "ciphertext": base64.b64encode(ciphertext).decode(),
                                 "associated_data": original_type, "nonce": nonce}}
        body = json.dumps(envelope, ensure_ascii=False)
        if variant == "stale":
            headers = signed_headers(body, timestamp=int(time.time()) - 600)
        elif variant == "unknown_serial":
            headers = signed_headers(body, key=new_rsa_key(), serial="PUB_KEY_ID_" + secrets.token_hex(14).upper())
        elif variant == "bad_key":
            headers = signed_headers(body, key=new_rsa_key())
        else:
            headers = signed_headers(body)
        if variant == "signtest":
            headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + base64.b64encode(
                secrets.token_bytes(192)).decode()
        if variant == "tampered":
            body = body.replace(envelope["id"], str(uuid.uuid4()))
        headers.pop("Request-ID", None)
        headers["Content-Type"] = "application/json"
        return {"headers": headers, "body": body}

    def deliver(url: str, note: dict) -> int:
        host = urlsplit(url).hostname
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"the fake only delivers to 127.0.0.1, not {host}")
        response = requests.post(url, data=note["body"].encode(), headers=note["headers"], timeout=10)
        return response.status_code

    def merged(base: dict, overrides: dict) -> dict:
        result = dict(base)
        for key, value in overrides.items():
            result[key] = merged(result.get(key) or {}, value) if isinstance(value, dict) else value
        return result

    @app.post("/_fake/pay")
    def pay():
        body = request.get_json()
        variant = body.get("variant")
        if variant not in VARIANTS:
            return jsonify(error=f"unknown variant {variant}"), 400
        with state.lock:
            transaction = state.transactions.get(body["out_trade_no"])
            if transaction is None:
                return jsonify(error="no such out_trade_no"), 404
            if body.get("pay", True) and transaction.trade_state == "NOTPAY":
                transaction.trade_state = "SUCCESS"
                transaction.transaction_id = "4200" + "".join(str(secrets.randbelow(10)) for _ in range(24))
                transaction.success_time = china_time()
            resource = merged(transaction.resource(), body.get("resource") or {})
            url = transaction.notify_url
        note = notification("TRANSACTION.SUCCESS", "支付成功", "transaction", resource, variant)
        result = {"url": url, **note}
        if body.get("deliver"):
            result["delivered"] = deliver(url, note)
        return jsonify(result)

    @app.post("/_fake/refund")
    def finish_refund():
        body = request.get_json()
        status = body.get("status", "SUCCESS")
        variant = body.get("variant")
        if status not in ("SUCCESS", "ABNORMAL", "CLOSED") or variant not in VARIANTS:
            return jsonify(error="bad status or variant"), 400
        with state.lock:
            found = state.refunds.get(body["out_refund_no"])
            if found is None:
                return jsonify(error="no such out_refund_no"), 404
            found.status = status
            if status == "SUCCESS":
                found.success_time = found.success_time or china_time()
            resource = {"mchid": mchid, "out_trade_no": found.out_trade_no, "transaction_id": found.transaction_id,
                        "out_refund_no": found.out_refund_no, "refund_id": found.refund_id, "refund_status": status,
                        "user_received_account": "支付用户零钱",
                        "amount": {"total": found.total, "refund": found.refund, "payer_total": found.total,
                                   "payer_refund": found.refund}}
            if found.success_time:
                resource["success_time"] = found.success_time
            resource = merged(resource, body.get("resource") or {})
            url = found.notify_url
        note = notification(f"REFUND.{status}", "退款成功" if status == "SUCCESS" else "退款异常", "refund",
                            resource, variant)
        result = {"url": url, **note}
        if body.get("deliver"):
            result["delivered"] = deliver(url, note)
        return jsonify(result)

    @app.post("/_fake/reset")
    def reset():
        with state.lock:
            for name in ("transactions", "refunds", "calls", "failures"):
                getattr(state, name).clear()
            state.answer_variant = None
        return jsonify(ok=True)

    @app.post("/_fake/answer-signature")
    def answer_signature():
        variant = (request.get_json() or {}).get("variant")
        if variant not in (None, "bad_key", "unknown_serial"):
            return jsonify(error=f"unknown variant {variant}"), 400
        with state.lock:
            state.answer_variant = variant
        return jsonify(ok=True)

    @app.get("/_fake/calls")
    def calls():
        with state.lock:
            return jsonify(dict(state.calls))

    @app.get("/_fake/transactions/<out_trade_no>")
    def transaction_state(out_trade_no: str):
        with state.lock:
            transaction = state.transactions.get(out_trade_no)
            if transaction is None:
                return jsonify(error="no such out_trade_no"), 404
            return jsonify(asdict(transaction))

    @app.get("/_fake/platform-key")
    def platform_public_key():
        return jsonify(public_key_id=key_id, public_key_pem=app.config["PLATFORM_PUBLIC_KEY_PEM"])

    @app.post("/_fake/fail")
    def fail():
        body = request.get_json()
        with state.lock:
            state.failures[body["path"]] = [int(body.get("status", 500)), body.get("code", "SYSTEM_ERROR"),
                                            int(body.get("times", 1))]
        return jsonify(ok=True)

    return app


# --- running it for development -------------------------------------------------------------------------------


def ensure_keys(directory: Path, mchid: str) -> dict[str, str]:
    """Merchant and platform keys, the APIv3 key and the ids in `directory`, created once; the WECHAT_PAY_*
    settings (but the API base) that make the backend talk to a fake run with them."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {name: directory / name for name in ("merchant_private_key.pem", "merchant_public_key.pem",
                                                  "platform_private_key.pem", "platform_public_key.pem",
                                                  "settings.json")}
    if not files["settings.json"].exists():
        merchant, platform = new_rsa_key(), new_rsa_key()
        files["merchant_private_key.pem"].write_text(private_pem(merchant))
        files["merchant_public_key.pem"].write_text(public_pem(merchant))
        files["platform_private_key.pem"].write_text(private_pem(platform))
        files["platform_public_key.pem"].write_text(public_pem(platform))
        for name in ("merchant_private_key.pem", "platform_private_key.pem"):
            files[name].chmod(0o600)
        files["settings.json"].write_text(json.dumps({
            "WECHAT_PAY_MCH_ID": mchid, "WECHAT_PAY_API_V3_KEY": secrets.token_hex(16),
            "WECHAT_PAY_CERT_SERIAL": secrets.token_hex(20).upper(),
            "WECHAT_PAY_PUBLIC_KEY_ID": "PUB_KEY_ID_" + secrets.token_hex(14).upper()}, indent=2))
        files["settings.json"].chmod(0o600)
    settings = json.loads(files["settings.json"].read_text())
    settings["WECHAT_PAY_PRIVATE_KEY_PATH"] = str(files["merchant_private_key.pem"].resolve())
    settings["WECHAT_PAY_PUBLIC_KEY_PATH"] = str(files["platform_public_key.pem"].resolve())
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake WeChat Pay APIv3 server for development")
    parser.add_argument("--port", type=int, default=5102)
    parser.add_argument("--keys", type=Path, default=Path("var/wechatpay"), help="where the keys are kept")
    parser.add_argument("--mchid", default="1900000109")
    args = parser.parse_args()
    settings = ensure_keys(args.keys, args.mchid)
    fake = create_fake_wechatpay(
        settings["WECHAT_PAY_MCH_ID"], (args.keys / "merchant_public_key.pem").read_text(),
        settings["WECHAT_PAY_API_V3_KEY"],
        platform_private_key_pem=(args.keys / "platform_private_key.pem").read_text(),
        public_key_id=settings["WECHAT_PAY_PUBLIC_KEY_ID"], merchant_serial=settings["WECHAT_PAY_CERT_SERIAL"])
    settings["WECHAT_PAY_API_BASE"] = f"http://127.0.0.1:{args.port}"
    env_file = args.keys / "wechatpay.env"  # `set -a; . var/wechatpay/wechatpay.env` before starting the backend
    env_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    env_file.chmod(0o600)
    print(f"fake WeChat Pay on http://127.0.0.1:{args.port}/ for merchant {settings['WECHAT_PAY_MCH_ID']}; "
          f"the backend's WECHAT_PAY_* settings are in {env_file}", flush=True)
    from werkzeug.serving import run_simple

    run_simple("127.0.0.1", args.port, fake, threaded=True)


if __name__ == "__main__":
    main()

"""Bank payouts (代付) behind one interface, chosen by BANK_PAYOUT_ADAPTER: `local` (development: nothing is paid,
each payout is written to BANK_PAYOUT_LOCAL_FILE so the developer can read the remark) and `http` (the bank's
payout gateway, signed both ways by `signed_http`).

Every payout carries the caller's idempotency key: paying again with the same key never pays a second time, it
answers the first payout's state. So after a crash, a timeout or an UpstreamError the caller simply calls `pay`
again with the same key (or `query`). The remark may hold a secret (a verification code, a PIN): it goes to the
bank and nowhere else — never into a log line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from flask import current_app

from wxbackend.core.errors import DomainError, UpstreamError
from wxbackend.core.redis import get_redis
from wxbackend.core.times import utcnow
from wxbackend.integrations.signed_http import SignedJsonClient

log = logging.getLogger(__name__)

STATUSES = ("processing", "succeeded", "failed")
UNAVAILABLE = "银行代付服务暂时不可用，请稍后再试"


@dataclass(frozen=True)
class PayoutResult:
    status: str  # "processing" | "succeeded" | "failed"
    bank_reference: str
    reason: str


class PayoutRefused(DomainError):
    """The gateway refused the request itself (bad account number, amount out of range): retrying cannot help."""

    code, message, status = "payout_refused", "银行拒绝了这笔打款", 422


class PayoutUnknown(DomainError):
    """`query` for a key the bank never received: nothing was paid, and `pay` with the same key is safe."""

    code, message, status = "payout_unknown", "银行没有这笔打款的记录", 404


class PayoutAdapter(Protocol):
    name: str

    def pay(self, *, idempotency_key: str, account_name: str, account_number: str, bank_name: str,
            amount_fen: int, remark: str) -> PayoutResult: ...

    def query(self, idempotency_key: str) -> PayoutResult: ...


IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
REMARK_MAX_CHARS = 32  # what a bank statement line shows of a remark (附言)


class PayoutRequestInvalid(DomainError, ValueError):
    """The payout asked for cannot be sent as it is (a caller's mistake); nothing was sent."""

    code, message, status = "payout_request_invalid", "打款请求无效", 400


def _check_key(idempotency_key: str) -> None:
    if not isinstance(idempotency_key, str) or not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise PayoutRequestInvalid("打款幂等键应为1至64个字母、数字或 _ . : -")


def _check_pay_arguments(idempotency_key: str, amount_fen: int, remark: str) -> None:
    _check_key(idempotency_key)
    if len(remark) > REMARK_MAX_CHARS:
        raise PayoutRequestInvalid(f"打款附言不能超过{REMARK_MAX_CHARS}个字符")
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise PayoutRequestInvalid("打款金额应为正整数（分）")


class LocalPayouts:
    """Development only: every payout succeeds at once and is kept in Redis by its key (so paying twice answers
    the first payout); the first time, one JSON line is appended to `path` — the remark included, because the
    developer has to read the code there. Never used in production."""

    name = "local"

    def __init__(self, path: Path):
        self.path = path

    def pay(self, *, idempotency_key: str, account_name: str, account_number: str, bank_name: str,
            amount_fen: int, remark: str) -> PayoutResult:
        _check_pay_arguments(idempotency_key, amount_fen, remark)
        reference = "LOCAL" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20].upper()
        result = PayoutResult("succeeded", reference, "")
        if get_redis().set(self._key(idempotency_key), json.dumps(asdict(result)), nx=True, ex=90 * 86400):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = {"time": utcnow().isoformat(), "idempotency_key": idempotency_key, "account_name": account_name,
                    "account_number": account_number, "bank_name": bank_name, "amount_fen": amount_fen,
                    "remark": remark, "bank_reference": reference}
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
            return result
        return self.query(idempotency_key)

    def query(self, idempotency_key: str) -> PayoutResult:
        _check_key(idempotency_key)
        stored = get_redis().get(self._key(idempotency_key))
        if stored is None:
            raise PayoutUnknown()
        return PayoutResult(**json.loads(stored))

    @staticmethod
    def _key(idempotency_key: str) -> str:
        return f"bank_payout:local:{idempotency_key}"


class HttpPayouts:
    """The payout gateway: `POST {base}/payouts` {idempotency_key, account_name, account_number, bank_name,
    amount_fen, remark} and `GET {base}/payouts/<key>`, each answering {idempotency_key, status, bank_reference,
    reason}; a refusal is 4xx {code, message}. Signed both ways (`signed_http`)."""

    name = "http"

    def __init__(self, client: SignedJsonClient):
        self.client = client

    def pay(self, *, idempotency_key: str, account_name: str, account_number: str, bank_name: str,
            amount_fen: int, remark: str) -> PayoutResult:
        _check_pay_arguments(idempotency_key, amount_fen, remark)
        status, answer = self.client.call("POST", "/payouts", {
            "idempotency_key": idempotency_key, "account_name": account_name, "account_number": account_number,
            "bank_name": bank_name, "amount_fen": amount_fen, "remark": remark})
        if status != 200:
            log.warning("payout %s refused by the gateway: %s %s", idempotency_key, answer.get("code"),
                        answer.get("message"))
            raise PayoutRefused(str(answer.get("message") or PayoutRefused.message))
        return self._result(idempotency_key, answer)

    def query(self, idempotency_key: str) -> PayoutResult:
        _check_key(idempotency_key)
        status, answer = self.client.call("GET", f"/payouts/{idempotency_key}")
        if status == 404:
            raise PayoutUnknown()
        if status != 200:
            raise UpstreamError(UNAVAILABLE)
        return self._result(idempotency_key, answer)

    @staticmethod
    def _result(idempotency_key: str, answer: dict) -> PayoutResult:
        if answer.get("idempotency_key") != idempotency_key or answer.get("status") not in STATUSES:
            raise UpstreamError(UNAVAILABLE)
        return PayoutResult(answer["status"], str(answer.get("bank_reference") or ""), str(answer.get("reason") or ""))


def payout_adapter() -> PayoutAdapter:
    """The payout adapter BANK_PAYOUT_ADAPTER names; `local` refuses to run in production."""
    cfg = current_app.config
    if cfg["BANK_PAYOUT_ADAPTER"] == "local":
        if cfg["APP_ENV"] == "production":
            raise UpstreamError("银行代付服务未配置")
        return LocalPayouts(Path(cfg["BANK_PAYOUT_LOCAL_FILE"]))
    if cfg["BANK_PAYOUT_ADAPTER"] == "http":
        return HttpPayouts(SignedJsonClient(cfg["BANK_PAYOUT_URL"], cfg["BANK_PAYOUT_MERCHANT_ID"],
                                            cfg["BANK_PAYOUT_HMAC_KEY"], cfg["BANK_PAYOUT_TIMEOUT_SECONDS"],
                                            UNAVAILABLE))
    raise ValueError(f"unknown BANK_PAYOUT_ADAPTER {cfg['BANK_PAYOUT_ADAPTER']!r}")

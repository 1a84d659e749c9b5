"""金融认证 (DESIGN §11, the seed's step 10): after approval, 0.01 yuan is paid to the organisation's basic account
with a random 6-digit code in the remark (bank payout adapter); the user types the code on the phone or the PC.
FIN_VERIFICATION_MAX_TRIES wrong codes or FIN_VERIFICATION_DAYS days make it 金融认证失败, and the user corrects
the account and tries again; the right code makes the order 待制证 (the PC renewal page writes it).

Paying twice never happens: the attempt, its idempotency key and its code are committed before the payout job
calls the bank, and the job (safe to run twice, or after a crash midway) pays with that same key."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from wxbackend.applications import materials, service
from wxbackend.applications.models import Application, ApplicationRevision, FinVerification, VerificationStatus
from wxbackend.applications.transitions import VERIFICATION_STATES
from wxbackend.audit.service import record_audit
from wxbackend.core import keyset
from wxbackend.core.crypto import decrypt, encrypt, lookup_hash, mask_bank_account
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict
from wxbackend.core.jobs import enqueue_after_commit
from wxbackend.core.times import utcnow
from wxbackend.core.validation import InvalidFields, digits_only
from wxbackend.integrations.bank_payout import PayoutRefused, payout_adapter
from wxbackend.notices.service import queue_notice
from wxbackend.orders import transitions
from wxbackend.orders.models import Order, OrderStatus

AMOUNT_FEN = 1
PAYOUT_JOB = "applications.pay_fin_verification"


def _code_hash(code: str) -> str:
    return lookup_hash(code, "fin_verification_code")


def remark(code: str) -> str:
    return f"数字证书金融认证码{code}"


def latest(application_id: int) -> FinVerification | None:
    return db.session.scalar(sa.select(FinVerification).where(FinVerification.application_id == application_id)
                             .order_by(FinVerification.attempt.desc()).limit(1))


def _new_attempt(application, actor: str) -> FinVerification:
    data = service.current_materials(application)
    previous = latest(application.id)
    attempt = (previous.attempt + 1) if previous else 1
    code = f"{secrets.randbelow(10**6):06d}"
    verification = FinVerification(
        application_id=application.id, attempt=attempt, idempotency_key=f"FV{application.application_no}-{attempt}",
        account_name=data["bank_account_name"], bank_name=data["bank_name"],
        account_masked=mask_bank_account(data["bank_account"]), amount_fen=AMOUNT_FEN,
        code_enc=encrypt(code, "fin_verification_code"), code_hash=_code_hash(code),
        status=VerificationStatus.PAYOUT_PENDING, created_at=utcnow())
    db.session.add(verification)
    db.session.flush()
    record_audit(actor, "application.fin_verification.start", target=f"application:{application.id}",
                 detail={"attempt": attempt, "payout": verification.idempotency_key,
                         "account": verification.account_masked})
    enqueue_after_commit(PAYOUT_JOB, verification.id)
    return verification


def start_verification(application_id: int, actor: str) -> FinVerification:
    """审核通过 → 待金融认证 and the first attempt recorded (its payout queued after commit)."""
    application = service.lock_application(application_id)
    transitions.move(application.order, OrderStatus.PENDING_FIN_VERIFICATION, actor,
                     "系统将向单位基本户打款0.01元，请查看交易附言中的随机码并输入")
    return _new_attempt(application, actor)


def pay(verification_id: int) -> str:
    """The payout job's work: pay the attempt's 0.01 yuan with its own idempotency key (the bank answers the first
    payout again when it already has it). Does nothing unless the attempt is still 打款中. A bank refusal or a
    failed payout makes the order 金融认证失败."""
    verification = db.session.get(FinVerification, verification_id)
    if verification is None or verification.status != VerificationStatus.PAYOUT_PENDING:
        return "nothing to do"
    application = service.lock_application(verification.application_id)
    verification = db.session.scalar(sa.select(FinVerification).where(FinVerification.id == verification_id)
                                     .with_for_update().execution_options(populate_existing=True))
    if verification.status != VerificationStatus.PAYOUT_PENDING:
        return "nothing to do"
    data = service.current_materials(application)
    code = decrypt(verification.code_enc, "fin_verification_code")
    try:
        result = payout_adapter().pay(idempotency_key=verification.idempotency_key,
                                      account_name=verification.account_name, account_number=data["bank_account"],
                                      bank_name=verification.bank_name, amount_fen=verification.amount_fen,
                                      remark=remark(code))
    except PayoutRefused as refused:
        _payout_failed(application, verification, refused.message)
        return "refused"
    if result.status == "processing":
        raise RuntimeError("payout still processing; retried")  # rq retries; the same key never pays twice
    if result.status == "failed":
        _payout_failed(application, verification, result.reason or "银行打款失败")
        return "failed"
    now = utcnow()
    VERIFICATION_STATES.move(verification, VerificationStatus.AWAITING_CODE)
    verification.bank_reference, verification.paid_at = result.bank_reference[:64], now
    verification.expires_at = now + timedelta(days=current_app.config["FIN_VERIFICATION_DAYS"])
    db.session.flush()
    record_audit("system", "application.fin_verification.paid", target=f"application:{application.id}",
                 detail={"attempt": verification.attempt, "bank_reference": verification.bank_reference})
    return "paid"


def _payout_failed(application, verification: FinVerification, reason: str) -> None:
    VERIFICATION_STATES.move(verification, VerificationStatus.PAYOUT_FAILED)
    verification.failure_reason, verification.closed_at = reason[:200], utcnow()
    transitions.move(application.order, OrderStatus.FIN_VERIFICATION_FAILED, "system",
                     f"向基本户打款失败：{reason}，请核对基本户信息后重新提交"[:500])
    record_audit("system", "application.fin_verification.payout_failed", target=f"application:{application.id}",
                 result="failed", detail={"attempt": verification.attempt, "why": reason[:200]})


def _fail(application, verification: FinVerification, why: str, actor: str) -> None:
    VERIFICATION_STATES.move(verification, VerificationStatus.FAILED)
    verification.closed_at = utcnow()
    transitions.move(application.order, OrderStatus.FIN_VERIFICATION_FAILED, actor,
                     f"金融认证失败：{why}，请核对基本户信息后重新提交")


@dataclass(frozen=True)
class CodeResult:
    ok: bool
    code: str  # verified | wrong_code | fin_verification_failed
    message: str
    tries_left: int = 0


def enter_code(user_id: int, application_id: int, code: str) -> CodeResult:
    """The user types the code from the remark. Returns the outcome instead of raising, because a wrong try must be
    kept (counted) in this unit of work: the right code → 待制证; a wrong one → tries left; the last wrong one, or
    any after FIN_VERIFICATION_DAYS, → 金融认证失败. Raises Conflict when no code is awaited."""
    application = service.lock_application(service.user_application(user_id, application_id).id)
    verification = latest(application.id)
    if verification is not None:
        verification = db.session.scalar(sa.select(FinVerification).where(FinVerification.id == verification.id)
                                         .with_for_update().execution_options(populate_existing=True))
    if application.order.status != OrderStatus.PENDING_FIN_VERIFICATION or verification is None or \
            verification.status != VerificationStatus.AWAITING_CODE:
        raise Conflict("当前没有待输入的金融认证随机码", code="no_code_awaited")
    actor = f"user:{user_id}"
    limit = current_app.config["FIN_VERIFICATION_MAX_TRIES"]
    if utcnow() > verification.expires_at:
        _fail(application, verification, "超过有效期未输入正确的随机码", actor)
        return CodeResult(False, "fin_verification_failed", "随机码已过期，金融认证失败，请核对基本户信息后重新提交")
    typed = digits_only(code)[:12]
    if typed and hmac.compare_digest(_code_hash(typed), verification.code_hash):
        VERIFICATION_STATES.move(verification, VerificationStatus.VERIFIED)
        verification.closed_at = utcnow()
        order = application.order
        transitions.move(order, OrderStatus.READY_TO_WRITE, actor, "金融认证通过，请在电脑上插入U-KEY写入新证书")
        queue_notice(user_id, "ready_to_write", {"order_no": order.order_no,
                                                 "organisation": order.certificate.subject_o})
        record_audit(actor, "application.fin_verification.verified", target=f"application:{application.id}",
                     detail={"attempt": verification.attempt})
        return CodeResult(True, "verified", "金融认证通过")
    verification.wrong_tries += 1
    left = limit - verification.wrong_tries
    record_audit(actor, "application.fin_verification.wrong_code", target=f"application:{application.id}",
                 result="refused", detail={"attempt": verification.attempt, "tries": verification.wrong_tries})
    if left <= 0:
        _fail(application, verification, f"随机码{limit}次输入错误", actor)
        return CodeResult(False, "fin_verification_failed",
                          f"随机码已{limit}次输入错误，金融认证失败，请核对基本户信息后重新提交")
    db.session.flush()
    return CodeResult(False, "wrong_code", f"随机码不正确，还可以输入{left}次", left)


def retry(user_id: int, application_id: int, bank_name: str, bank_account: str) -> FinVerification:
    """金融认证失败 → the user corrects the basic account (kept as a new revision of the materials) and a new attempt
    is paid. Raises Conflict unless the order is 金融认证失败; InvalidFields for a wrong bank or account."""
    application = service.lock_application(service.user_application(user_id, application_id).id)
    if application.order.status != OrderStatus.FIN_VERIFICATION_FAILED:
        raise Conflict("只有金融认证失败的申请才能重新提交基本户信息", code="not_failed")
    data = dict(service.current_materials(application))
    data.update(bank_name=bank_name, bank_account=bank_account)
    data = materials.check(data, application.certificate.subject_o)
    plain, secret = materials.seal(data)
    now = utcnow()
    revision = ApplicationRevision(application=application, number=application.revision + 1, fields=plain,
                                   sensitive_enc=secret, created_at=now, updated_at=now, submitted_at=now)
    db.session.add(revision)
    application.revision = revision.number
    actor = f"user:{user_id}"
    transitions.move(application.order, OrderStatus.PENDING_FIN_VERIFICATION, actor,
                     f"已更正基本户信息（第{revision.number}版），系统将重新打款0.01元")
    db.session.flush()
    return _new_attempt(application, actor)


def require_fields(bank_name: str | None, bank_account: str | None) -> None:
    errors = {}
    if not (bank_name or "").strip():
        errors["bank_name"] = "请选择基本户开户行"
    if not (bank_account or "").strip():
        errors["bank_account"] = "请填写基本户账号"
    if errors:
        raise InvalidFields(errors)


def expire_overdue() -> int:
    """The sweep: every attempt still awaiting its code FIN_VERIFICATION_DAYS after the payout fails (金融认证失败),
    as typing the code then would. Safe to run twice. Returns how many failed now."""
    overdue = list(db.session.scalars(sa.select(FinVerification.id).where(
        FinVerification.status == VerificationStatus.AWAITING_CODE, FinVerification.expires_at < utcnow())))
    failed = 0
    for verification_id in overdue:
        verification = db.session.get(FinVerification, verification_id)
        application = service.lock_application(verification.application_id)
        verification = db.session.scalar(sa.select(FinVerification).where(FinVerification.id == verification_id)
                                         .with_for_update().execution_options(populate_existing=True))
        if verification.status != VerificationStatus.AWAITING_CODE or \
                application.order.status != OrderStatus.PENDING_FIN_VERIFICATION:
            continue
        _fail(application, verification, "超过有效期未输入正确的随机码", "system")
        failed += 1
    return failed


def waiting(cursor: str | None = None, size: int | None = None) -> keyset.Page:
    """待金融认证 for finance staff, one page: attempts not yet verified, oldest first (打款中, 待输入随机码,
    打款失败 …), keyset-paged on (created_at, id)."""
    return keyset.page(
        sa.select(FinVerification).join(Application, Application.id == FinVerification.application_id)
        .join(Order, Order.id == Application.order_id)
        .where(Order.status.in_([OrderStatus.PENDING_FIN_VERIFICATION, OrderStatus.FIN_VERIFICATION_FAILED])),
        FinVerification.created_at, FinVerification.id, cursor,
        lambda verification: (verification.created_at, verification.id), size=size or keyset.PAGE_SIZE)


def waiting_count() -> int:
    return db.session.scalar(sa.select(sa.func.count(Application.id)).join(Order, Order.id == Application.order_id)
                             .where(Order.status == OrderStatus.PENDING_FIN_VERIFICATION))

"""Staff accounts and their two factors (DESIGN §15).

- Passwords are hashed with argon2id (argon2-cffi); a new account gets a one-time password to change at first use.
- TOTP (pyotp, RFC 6238, 30 s steps, one step of clock drift either way) is mandatory: enrolled with a QR code at
  the first sign-in; the newest accepted time step is stored, so a code (or an older one) is never accepted twice.
- Wrong passwords and wrong codes count together: `STAFF_LOCKOUT_FAILURES` in a row lock the account for
  `STAFF_LOCKOUT_MINUTES`, doubling with each lockout, until the time passes or an admin unlocks it. The count is
  written even though the refusal rolls its unit of work back (`keep_after_rollback`), and every failure is audited.
- Every change an admin makes is audited with before → after.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import timedelta

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from wxbackend.audit.service import record_audit
from wxbackend.core.crypto import decrypt, encrypt
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, DomainError, Forbidden, NotFound
from wxbackend.core.times import local_minute, utcnow
from wxbackend.core.uow import keep_after_rollback
from wxbackend.staff.models import ROLE_LABELS, Role, StaffMember

PASSWORDS = PasswordHasher()
DUMMY_HASH = PASSWORDS.hash("not a password of anyone")  # unknown names cost as much time as known ones
TOTP_PURPOSE = "staff.totp_secret"
USERNAME = re.compile(r"^[a-z][a-z0-9_.]{2,31}$")
MIN_PASSWORD_LENGTH = 12


class SignInRefused(DomainError):
    code, message, status = "sign_in_refused", "用户名、密码或动态口令错误", 401


class AccountLocked(DomainError):
    code, status = "account_locked", 403


class InvalidStaffInput(DomainError):
    code = "invalid_staff_input"


def actor(staff_id: int | None) -> str:
    return f"staff:{staff_id}" if staff_id else "staff:?"


def get_staff(staff_id: int) -> StaffMember | None:
    return db.session.get(StaffMember, staff_id)


def staff_member(staff_id: int) -> StaffMember:
    staff = db.session.get(StaffMember, staff_id)
    if staff is None:
        raise NotFound("没有找到该员工账户")
    return staff


def list_staff() -> list[StaffMember]:
    return list(db.session.scalars(sa.select(StaffMember).order_by(StaffMember.id)))


def _roles(roles: list[str] | set[str]) -> str:
    unknown = set(roles) - {r.value for r in Role}
    if unknown or not roles:
        raise InvalidStaffInput("请至少选择一个有效的角色")
    return ",".join(r.value for r in Role if r.value in roles)


def new_password() -> str:
    """A one-time password for a new or reset account: 16 characters a person can type."""
    return secrets.token_urlsafe(12)


def create_staff(by_staff_id: int | None, username: str, display_name: str, roles: list[str],
                 password: str | None = None, ip: str = "") -> tuple[StaffMember, str]:
    """A new staff account and its one-time password (changed at first sign-in). `by_staff_id` None: the
    bootstrap command. Raises InvalidStaffInput, Conflict (the name is taken)."""
    username = (username or "").strip().lower()
    display_name = (display_name or "").strip()
    if not USERNAME.match(username):
        raise InvalidStaffInput("用户名为3至32位小写字母、数字、下划线或点，以字母开头")
    if not 1 <= len(display_name) <= 32:
        raise InvalidStaffInput("请填写姓名（最多32个字）")
    role_text = _roles(roles)
    password = password or new_password()
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidStaffInput(f"密码至少{MIN_PASSWORD_LENGTH}位")
    if db.session.scalar(sa.select(StaffMember.id).where(StaffMember.username == username)) is not None:
        raise Conflict("该用户名已被使用", code="username_taken")
    staff = StaffMember(username=username, display_name=display_name, password_hash=PASSWORDS.hash(password),
                        roles=role_text, created_by=by_staff_id, active=True, failed_attempts=0, lockouts=0,
                        last_totp_step=0, must_change_password=True)
    db.session.add(staff)
    db.session.flush()
    record_audit(actor(by_staff_id) if by_staff_id else "cli", "staff.create", target=f"staff:{staff.id}", ip=ip,
                 detail={"after": {"username": username, "display_name": display_name, "roles": role_text}})
    return staff, password


def _change(by_staff_id: int, staff: StaffMember, action: str, field: str, value, ip: str) -> None:
    before = getattr(staff, field)
    setattr(staff, field, value)
    db.session.flush()
    record_audit(actor(by_staff_id), action, target=f"staff:{staff.id}", ip=ip,
                 detail={"before": {field: before}, "after": {field: value}})


def set_roles(by_staff_id: int, staff_id: int, roles: list[str], ip: str = "") -> StaffMember:
    staff = staff_member(staff_id)
    text = _roles(roles)
    if staff.id == by_staff_id and Role.ADMIN.value not in text.split(","):
        raise Conflict("不能取消自己的管理员角色", code="own_admin_role")
    _change(by_staff_id, staff, "staff.roles", "roles", text, ip)
    return staff


def set_active(by_staff_id: int, staff_id: int, active: bool, ip: str = "") -> StaffMember:
    """停用 or 启用 an account; a disabled account's live sessions stop at their next request."""
    staff = staff_member(staff_id)
    if staff.id == by_staff_id and not active:
        raise Conflict("不能停用自己的账户", code="own_account")
    _change(by_staff_id, staff, "staff.enable" if active else "staff.disable", "active", active, ip)
    return staff


def unlock(by_staff_id: int, staff_id: int, ip: str = "") -> StaffMember:
    staff = staff_member(staff_id)
    before = {"locked_until": local_minute(staff.locked_until), "failed_attempts": staff.failed_attempts}
    staff.locked_until, staff.failed_attempts = None, 0
    db.session.flush()
    record_audit(actor(by_staff_id), "staff.unlock", target=f"staff:{staff.id}", ip=ip,
                 detail={"before": before, "after": {"locked_until": "", "failed_attempts": 0}})
    return staff


def reset_credentials(by_staff_id: int, staff_id: int, ip: str = "") -> str:
    """A new one-time password and a new TOTP enrolment for someone who lost theirs; returns the password."""
    staff = staff_member(staff_id)
    password = new_password()
    staff.password_hash, staff.must_change_password = PASSWORDS.hash(password), True
    staff.totp_secret, staff.totp_enrolled_at = None, None
    db.session.flush()
    record_audit(actor(by_staff_id), "staff.reset_credentials", target=f"staff:{staff.id}", ip=ip)
    return password


# ----------------------------------------------------------------------------------------------- signing in


def _apply_failure(staff_id: int, why: str, ip: str) -> None:
    staff = db.session.get(StaffMember, staff_id)
    cfg = current_app.config
    staff.failed_attempts += 1
    detail = {"why": why, "failed_attempts": staff.failed_attempts}
    if staff.failed_attempts >= cfg["STAFF_LOCKOUT_FAILURES"]:
        minutes = cfg["STAFF_LOCKOUT_MINUTES"] * 2 ** min(staff.lockouts, 6)
        staff.locked_until = utcnow() + timedelta(minutes=minutes)
        staff.lockouts += 1
        staff.failed_attempts = 0
        detail["locked_minutes"] = minutes
    db.session.flush()


def _failure(staff: StaffMember, why: str, ip: str) -> None:
    """Count a wrong password or code (kept even though the refusal rolls back) and audit it."""
    staff_id = staff.id
    _apply_failure(staff_id, why, ip)
    keep_after_rollback(lambda: _apply_failure(staff_id, why, ip))
    locked = staff.locked_until is not None and staff.locked_until > utcnow()
    record_audit(actor(staff_id), "staff.sign_in", target=f"staff:{staff_id}", ip=ip,
                 result="locked" if locked else why)


def _refuse_if_locked(staff: StaffMember, ip: str) -> None:
    if staff.is_locked(utcnow()):
        record_audit(actor(staff.id), "staff.sign_in", target=f"staff:{staff.id}", ip=ip, result="while_locked")
        raise AccountLocked(f"账户已锁定，请于{local_minute(staff.locked_until)}后重试或联系管理员解锁")


def check_password(username: str, password: str, ip: str = "") -> StaffMember:
    """The first factor. Raises SignInRefused (unknown name, wrong password, disabled account: one message) or
    AccountLocked."""
    staff = db.session.scalar(sa.select(StaffMember).where(StaffMember.username == (username or "").strip().lower()))
    if staff is None:
        try:
            PASSWORDS.verify(DUMMY_HASH, password or "")
        except VerificationError:
            pass
        record_audit("staff:?", "staff.sign_in", target=f"username:{(username or '')[:32]}", ip=ip,
                     result="unknown_user")
        raise SignInRefused()
    _refuse_if_locked(staff, ip)
    try:
        PASSWORDS.verify(staff.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        _failure(staff, "wrong_password", ip)
        raise SignInRefused() from None
    if not staff.active:
        record_audit(actor(staff.id), "staff.sign_in", target=f"staff:{staff.id}", ip=ip, result="disabled")
        raise SignInRefused("该账户已停用，请联系管理员", code="account_disabled")
    return staff


def _totp(staff: StaffMember) -> pyotp.TOTP:
    return pyotp.TOTP(decrypt(staff.totp_secret, TOTP_PURPOSE))


def _accepted_step(totp: pyotp.TOTP, code: str, now: float) -> int | None:
    """The time step (current, or one either side for clock drift) whose code is `code`."""
    code = (code or "").strip()
    if not re.fullmatch(r"\d{6}", code):
        return None
    step = int(now // totp.interval)
    for candidate in (step, step - 1, step + 1):
        if secrets.compare_digest(totp.at(candidate * totp.interval), code):
            return candidate
    return None


def check_totp(staff_id: int, code: str, ip: str = "", purpose: str = "sign_in") -> None:
    """The second factor (also the fresh code of a sensitive action). A code of a time step at or before the last
    accepted one is a replay and is refused like a wrong code. Raises SignInRefused, AccountLocked."""
    staff = staff_member(staff_id)
    _refuse_if_locked(staff, ip)
    if staff.totp_secret is None or staff.totp_enrolled_at is None:
        raise SignInRefused("尚未绑定动态口令", code="totp_not_enrolled")
    step = _accepted_step(_totp(staff), code, time.time())
    if step is None or step <= staff.last_totp_step:
        _failure(staff, "wrong_totp" if step is None else "replayed_totp", ip)
        raise SignInRefused("动态口令错误或已使用，请输入验证器中的新口令", code="totp_refused")
    staff.last_totp_step, staff.failed_attempts = step, 0
    db.session.flush()
    record_audit(actor(staff.id), f"staff.{purpose}", target=f"staff:{staff.id}", ip=ip)


def enrolment_secret(staff_id: int) -> tuple[str, str]:
    """The TOTP secret being enrolled (made once, kept encrypted until confirmed) and its otpauth:// URI."""
    staff = staff_member(staff_id)
    if staff.totp_enrolled_at is not None:
        raise Conflict("已绑定动态口令", code="totp_enrolled")
    if staff.totp_secret is None:
        staff.totp_secret = encrypt(pyotp.random_base32(), TOTP_PURPOSE)
        db.session.flush()
    secret = decrypt(staff.totp_secret, TOTP_PURPOSE)
    uri = pyotp.TOTP(secret).provisioning_uri(name=staff.username, issuer_name=current_app.config["TOTP_ISSUER"])
    return secret, uri


def finish_enrolment(staff_id: int, code: str, ip: str = "") -> None:
    """The first code from the authenticator app confirms the enrolment."""
    staff = staff_member(staff_id)
    if staff.totp_secret is None or staff.totp_enrolled_at is not None:
        raise Conflict("请重新开始绑定动态口令", code="totp_enrolment_gone")
    step = _accepted_step(_totp(staff), code, time.time())
    if step is None:
        _failure(staff, "wrong_totp", ip)
        raise SignInRefused("动态口令错误，请输入验证器中显示的6位数字", code="totp_refused")
    staff.totp_enrolled_at, staff.last_totp_step, staff.failed_attempts = utcnow(), step, 0
    db.session.flush()
    record_audit(actor(staff.id), "staff.totp_enrolled", target=f"staff:{staff.id}", ip=ip)


def change_password(staff_id: int, current: str, new: str, ip: str = "") -> None:
    staff = staff_member(staff_id)
    try:
        PASSWORDS.verify(staff.password_hash, current or "")
    except (VerificationError, InvalidHashError):
        _failure(staff, "wrong_password", ip)
        raise SignInRefused("当前密码错误", code="wrong_password") from None
    if len(new or "") < MIN_PASSWORD_LENGTH:
        raise InvalidStaffInput(f"新密码至少{MIN_PASSWORD_LENGTH}位")
    if new == current:
        raise InvalidStaffInput("新密码不能与当前密码相同")
    staff.password_hash, staff.must_change_password = PASSWORDS.hash(new), False
    db.session.flush()
    record_audit(actor(staff.id), "staff.password_changed", target=f"staff:{staff.id}", ip=ip)


def require_role(staff: StaffMember, *roles: Role) -> None:
    if not staff.has_role(*roles):
        raise Forbidden(f"需要{'或'.join(ROLE_LABELS[r] for r in roles)}角色")

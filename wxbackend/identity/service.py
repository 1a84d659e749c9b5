"""身份鉴别认证 before a user's first order: consent, local validation, the provider, encrypted storage."""

from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa

from wxbackend.audit.service import record_audit
from wxbackend.core.crypto import encrypt, lookup_hash, mask_id_number, mask_mobile
from wxbackend.core.db import db
from wxbackend.core.errors import DomainError
from wxbackend.core.times import utcnow
from wxbackend.identity.models import IdentityCheck
from wxbackend.integrations.identity import provider
from wxbackend.users.models import User

CONSENT_VERSION = "2026-11-v1"
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
MOBILE = re.compile(r"1[3-9]\d{9}")
NAME = re.compile(r"[\u4e00-\u9fa5·]{2,20}|[A-Za-z][A-Za-z .·-]{1,49}")


class InvalidIdentity(DomainError):
    """A field the user typed is wrong; `field` names it for the form."""

    code = "invalid_identity"

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def id_number_problem(id_number: str) -> str | None:
    """Why an 18-character resident ID number (GB 11643-1999) is invalid, or None."""
    if not re.fullmatch(r"\d{17}[\dX]", id_number):
        return "身份证号码应为18位，最后一位可以是X"
    try:
        born = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return "身份证号码中的出生日期无效"
    if not date(1900, 1, 1) <= born <= date.today():
        return "身份证号码中的出生日期无效"
    total = sum(int(digit) * weight for digit, weight in zip(id_number[:17], WEIGHTS, strict=True))
    if CHECK_CHARACTERS[total % 11] != id_number[17]:
        return "身份证号码校验位不正确，请核对"
    return None


def verify_identity(user_id: int, name: str, id_number: str, mobile: str, consent: bool) -> IdentityCheck:
    """Check and record the operator's identity. InvalidIdentity for a field that is wrong or a consent
    missing; a provider's mismatch is recorded and raised as InvalidIdentity too. The user is marked verified
    only when the check passed."""
    name, id_number, mobile = name.strip(), id_number.strip().upper(), mobile.strip()
    if not consent:
        raise InvalidIdentity("consent", "请阅读并同意《个人信息处理规则》后再提交")
    if not NAME.fullmatch(name):
        raise InvalidIdentity("name", "请填写经办人的真实姓名")
    problem = id_number_problem(id_number)
    if problem:
        raise InvalidIdentity("id_number", problem)
    if not MOBILE.fullmatch(mobile):
        raise InvalidIdentity("mobile", "请填写11位手机号码")
    checker = provider()
    verdict = checker.verify(name, id_number, mobile)
    now = utcnow()
    check = IdentityCheck(user_id=user_id, name=name, provider=checker.name,
                          id_number_enc=encrypt(id_number, "id_number"),
                          id_number_hash=lookup_hash(id_number, "id_number"),
                          id_number_masked=mask_id_number(id_number),
                          mobile_enc=encrypt(mobile, "mobile"), mobile_hash=lookup_hash(mobile, "mobile"),
                          mobile_masked=mask_mobile(mobile), result="passed" if verdict.passed else "failed",
                          reason=verdict.reason, consent_version=CONSENT_VERSION, consented_at=now)
    db.session.add(check)
    user = db.session.get(User, user_id)
    if verdict.passed:
        user.identity_verified = True
    db.session.flush()
    record_audit(f"user:{user_id}", "identity.check", target=f"user:{user_id}",
                 result=check.result, detail={"masked_id": check.id_number_masked, "provider": checker.name})
    if not verdict.passed:
        raise InvalidIdentity("id_number", f"身份核验未通过：{verdict.reason}")
    return check


def latest_check(user_id: int) -> IdentityCheck | None:
    return db.session.scalar(sa.select(IdentityCheck).where(IdentityCheck.user_id == user_id,
                                                            IdentityCheck.result == "passed")
                             .order_by(IdentityCheck.id.desc()).limit(1))

"""The one place for the texts a user agrees to: each document's current version and its text (shown in full),
and the user's acceptances. Orders of every kind need the current 电子认证服务协议 accepted
(`require_service_agreement`); the reviewed applications record the same documents on the application. Services
flush; the edge commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from wxbackend.agreements.models import AgreementAcceptance
from wxbackend.audit.service import record_audit
from wxbackend.core.db import db
from wxbackend.core.times import utcnow
from wxbackend.core.validation import InvalidFields

TEXTS = Path(__file__).parent / "texts"


@dataclass(frozen=True)
class Document:
    """One versioned text: `texts/<name>-<version>.txt`. A new version is a new file and a new `version` here."""

    name: str
    title: str
    version: str

    @property
    def text(self) -> str:
        return _read(self.name, self.version)


@cache
def _read(name: str, version: str) -> str:
    return (TEXTS / f"{name}-{version}.txt").read_text(encoding="utf-8")


SERVICE_AGREEMENT = Document("service_agreement", "电子认证服务协议", "2026-12-v2")
SENSITIVE_CONSENT = Document("sensitive_consent", "敏感个人信息处理授权书", "2026-12-v1")
DECLARATION = Document("declaration", "申请声明", "2026-12-v1")


class AgreementRequired(InvalidFields):
    """The current 电子认证服务协议 is not accepted (never, or an older version): shown under the field `agreement`."""

    code, status = "agreement_required", 400

    def __init__(self, message: str = "首次办理业务前，请阅读并勾选“我接受电子认证服务协议内容”"):
        super().__init__({"agreement": message})


@dataclass(frozen=True)
class Accepted:
    version: str
    at: datetime


def acceptance(user_id: int, document: Document | None = None) -> Accepted | None:
    """When the user accepted the current version of `document` (the 电子认证服务协议 by default); None when they
    have not (or only older ones)."""
    document = document or SERVICE_AGREEMENT
    at = db.session.scalar(sa.select(AgreementAcceptance.accepted_at).where(
        AgreementAcceptance.user_id == user_id, AgreementAcceptance.document == document.name,
        AgreementAcceptance.version == document.version))
    return Accepted(document.version, at) if at is not None else None


def accepted_before(user_id: int, document: Document | None = None) -> bool:
    """Whether the user ever accepted any version of `document` (a changed version then says 已更新)."""
    document = document or SERVICE_AGREEMENT
    return db.session.scalar(sa.select(sa.func.count(AgreementAcceptance.id)).where(
        AgreementAcceptance.user_id == user_id, AgreementAcceptance.document == document.name)) > 0


def accept(user_id: int, document: Document | None = None, version: str | None = None) -> Accepted:
    """Record that the user accepted `version` of `document` (the 电子认证服务协议 by default; its current version
    when None) and return it; accepting the same version again keeps the first time. AgreementRequired when
    `version` is not the current one (the text changed since the page was shown)."""
    document = document or SERVICE_AGREEMENT
    if version is not None and version != document.version:
        raise AgreementRequired(f"《{document.title}》已更新（版本 {document.version}），请阅读新版本后重新勾选同意")
    existing = acceptance(user_id, document)
    if existing is not None:
        return existing
    now = utcnow()
    try:
        with db.session.begin_nested():  # two taps at once: the unique key keeps the first
            db.session.add(AgreementAcceptance(user_id=user_id, document=document.name, version=document.version,
                                               accepted_at=now))
    except IntegrityError:
        return acceptance(user_id, document)
    record_audit(f"user:{user_id}", "agreement.accept", target=f"user:{user_id}",
                 detail={"document": document.name, "version": document.version})
    return Accepted(document.version, now)


def require_service_agreement(user_id: int, accepted_version: str | None) -> Accepted:
    """What an order records: the user's acceptance of the current 电子认证服务协议, made now when the request carries
    `accepted_version` (the version the page showed, ticked), else an earlier one. AgreementRequired when neither:
    the first order of any kind, or the first after the text changed."""
    if accepted_version:
        return accept(user_id, SERVICE_AGREEMENT, accepted_version)
    existing = acceptance(user_id, SERVICE_AGREEMENT)
    if existing is not None:
        return existing
    if accepted_before(user_id, SERVICE_AGREEMENT):
        raise AgreementRequired(f"《电子认证服务协议》已更新（版本 {SERVICE_AGREEMENT.version}），请阅读后重新勾选同意")
    raise AgreementRequired()

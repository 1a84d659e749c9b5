"""One status for a certificate (issue 14): holds (挂失), their withdrawal, and revocation (DESIGN §3, §6, §11).

`Certificate.status` is the one truth every page, the API, eligibility, binding and renewal read. The CA's record
of the same serial (`ca_issued_certificates`), from which the CRL is built, changes only here, in the same unit of
work and under the certificate's row lock, so the two never disagree:

    certificate            CA record   on the CRL
    valid / expired        issued      —
    on_hold   (已挂失)     on_hold     certificateHold, revocation date = when it was reported
    revoked   (已吊销)     revoked     its reason; a confirmed loss: keyCompromise, invalidityDate = reported time

- `report_lost`: a bound user (from 证书详情 or the mini-program) or a staff member (客服/审核员, for a caller whose
  identity they checked) suspends the certificate at once;
- `withdraw_hold`: the key was found (钥匙找到了): the hold is lifted and the serial is simply absent from the next
  CRL (removeFromCRL semantics, RFC 5280 §5.3.1);
- `confirm_lost`: for the lost-key review at approval: the hold becomes a revocation, keyCompromise, with the time
  it was reported lost as invalidityDate (RFC 5280 §5.3.2);
- `revoke`: any other revocation (`flask ca revoke`).

A certificate with no CA record (imported from elsewhere) changes its own status only. Work other domains hold on
a certificate that leaves use (a renewal certificate issued onto the lost key but not yet confirmed) is ended by the
listeners create_app registers (`register_out_of_use_listeners`), in the same unit of work.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from wxbackend.audit.service import record_audit
from wxbackend.ca.models import IssuedCertificate, IssuedStatus
from wxbackend.ca.service import find_issued, hold_certificate, release_hold, revoke_certificate
from wxbackend.certificates import transitions
from wxbackend.certificates.models import (
    IN_USE_STATUSES,
    Certificate,
    CertificateHold,
    CertificateStatus,
    HoldStatus,
)
from wxbackend.certificates.service import CertificateRefused, lock_certificate, user_certificate
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, DomainError, NotFound
from wxbackend.core.times import utcnow

C = CertificateStatus
LISTENERS = "certificates.out_of_use_listeners"
REVOCATION_REASONS = ("unspecified", "key_compromise", "cessation_of_operation", "superseded")
MAX_REASON = 200
SERIAL_SHAPE = re.compile(r"[0-9A-Fa-f]{1,64}")  # as printed; compared case-sensitively


class AlreadyOnHold(Conflict):
    code, message = "already_on_hold", "该证书已挂失"


class NotOnHold(Conflict):
    code, message = "not_on_hold", "该证书没有挂失，无需解除"


class CertificateNotInUse(CertificateRefused):
    code, status = "certificate_not_in_use", 409


def refusal_for(certificate: Certificate, doing: str) -> CertificateNotInUse | None:
    """Why `doing` (绑定, 续期…) is refused for this certificate's status, or None when it is in use (valid or
    expired; the caller applies its own date rules)."""
    if certificate.status in IN_USE_STATUSES:
        return None
    if certificate.status == C.ON_HOLD:
        return CertificateNotInUse(f"该证书已挂失，不能{doing}；钥匙找到后可在证书详情中解除挂失，或办理补办")
    if certificate.status == C.REVOKED:
        return CertificateNotInUse(f"该证书已吊销，不能{doing}，请办理补办")
    return CertificateNotInUse(f"该证书已更新，不能{doing}，请使用新证书")


def require_in_use(certificate: Certificate, doing: str) -> None:
    """Raise CertificateNotInUse unless the certificate is valid or expired (not on hold, revoked, superseded)."""
    refused = refusal_for(certificate, doing)
    if refused is not None:
        raise refused


def register_out_of_use_listeners(app, listeners: Iterable[Callable[[int], object]]) -> None:
    """create_app names what must happen, in the same unit of work, when a certificate goes on hold or is revoked
    (each called with the certificate's id; explicit: nothing registers on import)."""
    app.extensions[LISTENERS] = tuple(listeners)


def _out_of_use(certificate_id: int) -> None:
    for listener in current_app.extensions.get(LISTENERS, ()):
        listener(certificate_id)


def active_hold(certificate_id: int) -> CertificateHold | None:
    return db.session.scalar(sa.select(CertificateHold).where(CertificateHold.certificate_id == certificate_id,
                                                              CertificateHold.status == HoldStatus.ACTIVE))


def _clean_reason(reason: object) -> str:
    return " ".join(reason.split())[:MAX_REASON] if isinstance(reason, str) else ""


def _hold(certificate: Certificate, actor: str, reason: str, ip: str,
          reported_at: datetime | None = None) -> CertificateHold:
    if certificate.status == C.ON_HOLD:
        raise AlreadyOnHold()
    require_in_use(certificate, "挂失")
    hold = CertificateHold(certificate_id=certificate.id, reported_by=actor, reason=reason,
                           reported_at=reported_at or utcnow())
    db.session.add(hold)
    transitions.CERTIFICATE_STATES.move(certificate, C.ON_HOLD)
    issued = find_issued(certificate.serial)
    if issued is not None:
        hold_certificate(certificate.serial, hold.reported_at)
    record_audit(actor, "certificate.hold", target=f"certificate:{certificate.id}", ip=ip,
                 detail={"serial": certificate.serial, "reason": reason, "ca_record": issued is not None})
    _out_of_use(certificate.id)
    return hold


def report_lost(user_id: int, certificate_id: int, ip: str = "", reason: str = "用户挂失") -> CertificateHold:
    """A bound user reports the key lost: the certificate is 已挂失 at once and certificateHold on the next CRL.
    NotFound for a certificate the user is not bound to; AlreadyOnHold; CertificateNotInUse when it is revoked or
    superseded. Flushes."""
    user_certificate(user_id, certificate_id)
    return _hold(lock_certificate(certificate_id), f"user:{user_id}", _clean_reason(reason), ip)


def staff_report_lost(staff_id: int, serial: object, reason: object, ip: str = "") -> CertificateHold:
    """A staff member places a hold for a caller whose identity they checked; `reason` (what they checked, what
    the caller said) is required and kept on the hold and the audit row. Same refusals as `report_lost`."""
    reason = _clean_reason(reason)
    if not reason:
        raise DomainError("请填写挂失原因（已核实的来电人身份等）", code="reason_required")
    certificate = find_by_serial(serial)
    return _hold(lock_certificate(certificate.id), f"staff:{staff_id}", reason, ip)


def certificate_with_serial(serial: object) -> Certificate | None:
    """The certificate with this serial (upper-case hex, case-sensitive as printed), or None."""
    if not isinstance(serial, str) or not SERIAL_SHAPE.fullmatch(serial.strip()):
        return None  # not hex (a NUL byte, say): no certificate has it, and the database is not asked
    return db.session.scalar(sa.select(Certificate).where(Certificate.serial == serial.strip()))


def find_by_serial(serial: object) -> Certificate:
    """`certificate_with_serial`, or NotFound."""
    certificate = certificate_with_serial(serial)
    if certificate is None:
        raise NotFound("没有找到该证书")
    return certificate


def _after_hold(certificate: Certificate) -> CertificateStatus:
    return C.VALID if certificate.not_after > utcnow() else C.EXPIRED


def withdraw_hold(user_id: int, certificate_id: int, ip: str = "") -> Certificate:
    """The key was found (解除挂失): the hold ends, the certificate is valid (or expired) again, and its serial is
    absent from the next CRL. NotFound for a certificate the user is not bound to; NotOnHold. Flushes."""
    user_certificate(user_id, certificate_id)
    certificate = lock_certificate(certificate_id)
    hold = active_hold(certificate.id)
    if certificate.status != C.ON_HOLD or hold is None:
        raise NotOnHold()
    actor = f"user:{user_id}"
    transitions.HOLD_STATES.move(hold, HoldStatus.WITHDRAWN)
    hold.ended_at, hold.ended_by = utcnow(), actor
    transitions.CERTIFICATE_STATES.move(certificate, _after_hold(certificate))
    issued = find_issued(certificate.serial)
    if issued is not None and issued.status == IssuedStatus.ON_HOLD:
        release_hold(certificate.serial)
    record_audit(actor, "certificate.hold_withdrawn", target=f"certificate:{certificate.id}", ip=ip,
                 detail={"serial": certificate.serial, "hold_id": hold.id})
    db.session.flush()
    return certificate


def confirm_lost(certificate_id: int, actor: str, ip: str = "", reported_at: datetime | None = None) -> Certificate:
    """At the approval of a lost-key replacement: the hold becomes a revocation with reason keyCompromise and the
    time the key was reported lost as invalidityDate (RFC 5280 §5.3.2). A certificate nobody could hold (the
    applicant was not bound to it) is held first as reported at `reported_at` (when the application reported
    the loss). NotOnHold when there is no hold and no `reported_at`; CertificateNotInUse. Flushes."""
    certificate = lock_certificate(certificate_id)
    hold = active_hold(certificate.id)
    if hold is None and reported_at is not None:
        hold = _hold(certificate, actor, "介质遗失补办申请", ip, reported_at=reported_at)
    if certificate.status != C.ON_HOLD or hold is None:
        raise NotOnHold("该证书没有挂失记录，不能按遗失吊销")
    transitions.HOLD_STATES.move(hold, HoldStatus.REVOKED)
    hold.ended_at, hold.ended_by = utcnow(), actor
    transitions.CERTIFICATE_STATES.move(certificate, C.REVOKED)
    if find_issued(certificate.serial) is not None:
        revoke_certificate(certificate.serial, "key_compromise", invalidity_date=hold.reported_at)
    record_audit(actor, "certificate.revoked", target=f"certificate:{certificate.id}", ip=ip,
                 detail={"serial": certificate.serial, "reason": "key_compromise", "hold_id": hold.id})
    db.session.flush()
    return certificate


def revoke(serial: object, reason: str | None, actor: str, ip: str = "") -> Certificate | IssuedCertificate:
    """Revoke by serial (`flask ca revoke`): a customer's certificate — its status and the CA's record together,
    on the next CRL; a held one too (its hold ends as revoked) — or, for a serial no customer holds, the CA's
    record alone. No reason (or "unspecified"): no reasonCode on the CRL entry. Idempotent for one already
    revoked; NotFound; DomainError for an unknown reason; IllegalCertificateTransition for a superseded one.
    Returns the certificate (or the CA's record)."""
    if reason is not None and reason not in REVOCATION_REASONS:
        raise DomainError("吊销原因无效", code="invalid_reason")
    found = certificate_with_serial(serial)
    if found is None:
        if not isinstance(serial, str) or find_issued(serial.strip()) is None:
            raise NotFound("没有找到该证书")
        record = revoke_certificate(serial.strip(), reason)
        record_audit(actor, "ca.revoked", target=f"serial:{record.serial}", ip=ip, detail={"reason": reason})
        return record
    certificate = lock_certificate(found.id)
    if certificate.status == C.REVOKED:
        return certificate
    hold = active_hold(certificate.id)
    transitions.CERTIFICATE_STATES.move(certificate, C.REVOKED)
    if hold is not None:
        transitions.HOLD_STATES.move(hold, HoldStatus.REVOKED)
        hold.ended_at, hold.ended_by = utcnow(), actor
    if find_issued(certificate.serial) is not None:
        revoke_certificate(certificate.serial, reason,
                           invalidity_date=hold.reported_at if hold is not None and reason == "key_compromise"
                           else None)
    record_audit(actor, "certificate.revoked", target=f"certificate:{certificate.id}", ip=ip,
                 detail={"serial": certificate.serial, "reason": reason})
    _out_of_use(certificate.id)
    db.session.flush()
    return certificate

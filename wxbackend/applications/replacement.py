"""介质遗失补办 (issue 14, seed 004): the certificate looked up by its serial, the replacement order and its
application (the same agreement, materials, form, uploads and liveness as the expired renewal), and what approval
does — the lost certificate revoked as keyCompromise with the time it was reported lost, the order 制证中 for the
counter (`counter`) and the shipment (`shipping`).

Anyone signed in may look a serial up: one bound to the certificate sees it as their pages do; anyone else sees only
what is safe (the organisation masked, the status and the end date), and must give the full materials, which the
review checks against the certificate. Services take ids and flush; the edge commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from wxbackend.applications import service
from wxbackend.applications.models import Application, ApplicationKind
from wxbackend.audit.service import record_audit
from wxbackend.certificates import revocation
from wxbackend.certificates.models import Binding, BindingStatus, Certificate, CertificateStatus
from wxbackend.certificates.service import bound_user_ids
from wxbackend.core.crypto import mask_organisation
from wxbackend.core.db import db
from wxbackend.core.errors import DomainError, NotFound
from wxbackend.notices.service import queue_notice
from wxbackend.orders import transitions
from wxbackend.orders.models import CLOSED_STATUSES, Order, OrderKind, OrderStatus
from wxbackend.orders.service import ReplacementQuote, create_replacement_order, lock_order, replacement_quote

NOT_FOUND = "没有找到该证书，请核对证书序列号（区分大小写，例如712C1B5A584A1BBE）"


@dataclass(frozen=True)
class Lookup:
    """One certificate as a serial lookup shows it to this user."""

    certificate: Certificate
    bound: bool
    organisation: str  # masked unless bound
    quote: ReplacementQuote | None  # None when it cannot be replaced
    refusal: str  # why not, in Chinese ("" when it can)
    application: Application | None  # this user's open replacement of it, if any

    @property
    def serial(self) -> str:
        return self.certificate.serial

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_after

    @property
    def status_label(self) -> str:
        return self.certificate.status_label


def _bound(user_id: int, certificate_id: int) -> bool:
    return db.session.scalar(sa.select(sa.func.count(Binding.id)).where(
        Binding.user_id == user_id, Binding.certificate_id == certificate_id,
        Binding.status == BindingStatus.ACTIVE)) > 0


def _open_application(user_id: int, certificate_id: int) -> Application | None:
    return db.session.scalar(
        sa.select(Application).join(Order, Order.id == Application.order_id)
        .where(Application.user_id == user_id, Application.certificate_id == certificate_id,
               Application.kind == ApplicationKind.REPLACEMENT, Order.status.not_in(CLOSED_STATUSES))
        .order_by(Application.id.desc()).limit(1))


def lookup(user_id: int, serial: object) -> Lookup:
    """证书序列号查询: the certificate with this serial (case-sensitive, as printed), as this user may see it.
    NotFound (with how to write a serial) when there is none."""
    certificate = revocation.certificate_with_serial(serial)
    if certificate is None:
        raise NotFound(NOT_FOUND, code="certificate_not_found")
    bound = _bound(user_id, certificate.id)
    try:
        quote, refusal = replacement_quote(certificate), ""
    except DomainError as refused:
        quote, refusal = None, refused.message
    organisation = certificate.subject_o if bound else mask_organisation(certificate.subject_o)
    return Lookup(certificate, bound, organisation, quote, refusal, _open_application(user_id, certificate.id))


def start(user_id: int, serial: object, shown_amount_fen: int | None = None, ip: str = "",
          agreement_version: str | None = None) -> Application:
    """补办 the certificate with this serial: its 编辑中 replacement order and the application (this user's open one
    when there is one already). `agreement_version`: the 电子认证服务协议 ticked now (needed until its current version
    is accepted). NotFound; NotReplaceable; IdentityRequired; PriceChanged; AgreementRequired; Conflict when someone
    else has an open order on it."""
    found = lookup(user_id, serial)
    if found.application is not None:
        return found.application
    order = create_replacement_order(user_id, found.certificate.id, shown_amount_fen,
                                     agreement_version=agreement_version)
    application = Application(application_no=service.new_application_no(), kind=ApplicationKind.REPLACEMENT,
                              user_id=user_id, certificate_id=found.certificate.id, order_id=order.id, revision=0)
    db.session.add(application)
    db.session.flush()
    record_audit(f"user:{user_id}", "application.start", target=f"application:{application.id}", ip=ip,
                 detail={"kind": ApplicationKind.REPLACEMENT.value, "order": order.order_no,
                         "serial": found.certificate.serial, "bound": found.bound})
    return application


def approved(application: Application, actor: str) -> None:
    """Both review steps approved a replacement: the lost certificate is revoked (keyCompromise, invalidityDate =
    when it was reported lost: its hold, or the first submission of this application when nobody could hold it),
    the order goes 审核通过 → 制证中, and the applicant and every phone bound to the old certificate are told."""
    order = lock_order(application.order_id)
    certificate = db.session.get(Certificate, application.certificate_id)
    if certificate.status != CertificateStatus.REVOKED:
        reported = min(r.submitted_at for r in application.revisions if r.submitted_at is not None)
        revocation.confirm_lost(certificate.id, actor, reported_at=reported)
    transitions.move(order, OrderStatus.APPROVED, actor,
                     f"申请资料（第{application.revision}版）审核通过，原证书已吊销")
    transitions.move(order, OrderStatus.MAKING, "system", "正在制作新的数字证书介质，制作完成后将邮寄给您")
    queue_notice(application.user_id, "audit_result", {"order_no": order.order_no, "result": "审核通过，新介质制作中"})
    for user_id in set(bound_user_ids(certificate.id)) - {application.user_id}:
        queue_notice(user_id, "certificate_revoked", {"organisation": certificate.subject_o,
                                                      "serial": certificate.serial})


def is_replacement(application: Application) -> bool:
    return application.kind == ApplicationKind.REPLACEMENT and application.order.kind == OrderKind.REPLACEMENT

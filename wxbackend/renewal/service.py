"""Writing the renewed certificate on the PC (实时制证, DESIGN §5).

`start` (the key's certificate → the paid order and a `keygen` ticket, or an `install` ticket when a certificate
was already issued for the order and its key is still on the token) → the helper makes a new key pair and a CSR
and signs the challenge with the old key → `issue` (old-key signature, CSR signature and key policy checked;
subject from the old certificate; validity old not_after + years) → the helper writes the certificate and signs
with the new key → `confirm` (order completed, old certificate superseded, bindings carried over, notice) → a
`cleanup` ticket for removing the old certificate and key.

批量续期: the page names the group (`group_no`) and lists its keys (`group_progress`); each key inserted finds its
own order of the group, written and resumed on its own exactly as a single renewal, so a key that fails leaves the
others writable.

Nothing is lost when the key is pulled out between steps: the old certificate works until `confirm`; an issued
certificate is installed on the next visit without issuing again; if its key is gone it is voided (on the CRL)
and the flow starts over. An order is issued at most once at a time (row lock + status).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from helper_protocol.tickets import unb64url
from wxbackend.audit.service import record_audit
from wxbackend.ca.backends import get_backend
from wxbackend.ca.models import IssuedCertificate, IssuedStatus
from wxbackend.ca.service import CertSubject, check_csr
from wxbackend.certificates.models import Certificate
from wxbackend.certificates.revocation import refusal_for, require_in_use
from wxbackend.certificates.service import (
    bound_user_ids,
    certificate_from_key,
    lock_certificate,
    signed_by_certificate,
    supersede,
)
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, DomainError
from wxbackend.core.times import local_day, utcnow
from wxbackend.helper_releases.service import check_helper_version
from wxbackend.notices.service import queue_notice
from wxbackend.orders import transitions
from wxbackend.orders.models import Order, OrderGroup, OrderKind, OrderStatus
from wxbackend.orders.service import lock_order
from wxbackend.tickets.service import issue_ticket, take_ticket


class NoPaidOrder(DomainError):
    code, message, status = "no_paid_order", "该证书没有待制证的受理单，请先在微信“数安CA管家”中办理续期并缴费", 404


class NotTheKeyOrdered(DomainError):
    code, message = "not_the_key_ordered", "插入的介质不是该受理单对应的证书介质，请更换介质后重试"


class NotInGroup(DomainError):
    code, message = "not_in_group", "插入的介质不属于本次批量续期，请拔出后插入列表中的介质"


class RenewalRefused(DomainError):
    code, message = "renewal_refused", "续期请求无效，请刷新页面后重试"


@dataclass(frozen=True)
class Started:
    mode: str  # keygen | install
    order: Order
    ticket: str
    ticket_id: str
    certificate_pem: str | None = None  # install mode: the certificate already issued
    chain_pem: list[str] | None = None


def fingerprint(pem: str) -> str:
    return hashlib.sha256(x509.load_pem_x509_certificate(pem.encode()).public_bytes(
        serialization.Encoding.DER)).hexdigest()


def key_id_of(pem: str) -> str:
    public_key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    return x509.SubjectKeyIdentifier.from_public_key(public_key).digest.hex()


def chain_pems() -> list[str]:
    return [c.public_bytes(serialization.Encoding.PEM).decode() for c in get_backend().chain()]


def _group_by_no(group_no: str) -> OrderGroup:
    group = db.session.scalar(sa.select(OrderGroup).where(OrderGroup.group_no == group_no))
    if group is None:
        raise NoPaidOrder("没有找到该批量续期")
    return group


def _order_in_group(certificate: Certificate, group_no: str) -> Order:
    """The order of the group `group_no` that renews `certificate` (the key inserted now)."""
    group = _group_by_no(group_no)
    order = next((o for o in group.orders if o.certificate_id == certificate.id), None)
    if order is None:
        if any(o.new_certificate_id == certificate.id for o in group.orders):
            raise NoPaidOrder("该介质的新证书已写入完成，请拔出后插入下一个介质", code="already_written")
        raise NotInGroup()
    if order.status not in (OrderStatus.READY_TO_WRITE, OrderStatus.ISSUED):
        raise NoPaidOrder(f"该介质的受理单当前为“{order.status_label}”，不能写入证书，请插入下一个介质")
    return order


def _order_for(certificate: Certificate, order_no: str | None, group_no: str | None = None) -> Order:
    if group_no:
        return _order_in_group(certificate, group_no)
    if order_no:
        order = db.session.scalar(sa.select(Order).where(Order.order_no == order_no))
        if order is None or order.kind != OrderKind.RENEWAL:
            raise NoPaidOrder("没有找到该受理单")
        if order.certificate_id != certificate.id:
            raise NotTheKeyOrdered()
        if order.status not in (OrderStatus.READY_TO_WRITE, OrderStatus.ISSUED):
            raise NoPaidOrder(f"受理单当前为“{order.status_label}”，不能写入证书")
        return order
    order = db.session.scalar(sa.select(Order).where(
        Order.certificate_id == certificate.id, Order.kind == OrderKind.RENEWAL,
        Order.status.in_([OrderStatus.READY_TO_WRITE, OrderStatus.ISSUED])))
    if order is None:
        raise NoPaidOrder()
    return order


def start(cert_pem: object, key_ids: list[str], order_no: str | None, ip: str,
          helper_version: str | None = None, group_no: str | None = None) -> Started:
    """What the helper should do for the key whose certificate is `cert_pem` (its public-key ids `key_ids`): its
    order (the one named by `order_no`, or its order of the 批量续期 group `group_no`: NotInGroup for a key of no
    order of it). HelperOutdated when the page reports a helper older than HELPER_MIN_VERSION."""
    check_helper_version(helper_version)
    certificate = certificate_from_key(cert_pem)
    require_in_use(certificate, "续期")
    order = lock_order(_order_for(certificate, order_no, group_no).id)
    if order.status == OrderStatus.ISSUED:
        issued = order.issued_certificate
        if key_id_of(issued.pem) in {k.lower() for k in key_ids}:
            ticket = issue_ticket("install", token_serial=certificate.medium_number, cert_serial=issued.serial,
                                  order_id=order.id, cert_hash=fingerprint(issued.pem),
                                  context={"order_id": order.id})
            record_audit("pc", "renewal.resume", target=f"order:{order.id}", ip=ip)
            return Started("install", order, ticket.ticket, ticket.ticket_id, issued.pem, chain_pems())
        # the new key pair is gone (key re-made, pulled during keygen…): void the unused certificate, start over
        get_backend().revoke(issued.serial, "superseded", void=True)
        order.issued_certificate_id = None
        transitions.move(order, OrderStatus.READY_TO_WRITE, "system", "新密钥已不在介质中，作废未写入的证书后重新制证")
        record_audit("pc", "renewal.voided", target=f"order:{order.id}", ip=ip, detail={"serial": issued.serial})
    ticket = issue_ticket("keygen", token_serial=certificate.medium_number, cert_serial=certificate.serial,
                          order_id=order.id, context={"order_id": order.id})
    record_audit("pc", "renewal.start", target=f"order:{order.id}", ip=ip)
    return Started("keygen", order, ticket.ticket, ticket.ticket_id)


WRITE_LABELS = {OrderStatus.READY_TO_WRITE: "待写入", OrderStatus.ISSUED: "待写入（新证书已签发，插入该介质继续写入）",
                OrderStatus.COMPLETED: "已写入"}


@dataclass(frozen=True)
class GroupKey:
    """One key of a 批量续期 group as the PC page lists it."""

    order: Order

    @property
    def organisation(self) -> str:
        return self.order.certificate.subject_o

    @property
    def serial_tail(self) -> str:
        return self.order.certificate.serial[-6:]

    @property
    def medium_last4(self) -> str:
        return self.order.certificate.medium_last4

    @property
    def status(self) -> str:
        return self.order.status

    @property
    def status_label(self) -> str:
        return WRITE_LABELS.get(OrderStatus(self.order.status), self.order.status_label)


@dataclass(frozen=True)
class GroupProgress:
    group_no: str
    keys: list[GroupKey]

    @property
    def remaining(self) -> int:
        return sum(1 for key in self.keys if key.status in (OrderStatus.READY_TO_WRITE, OrderStatus.ISSUED))


def group_progress(group_no: str) -> GroupProgress:
    """The keys of a paid 批量续期 group and where each stands (待写入 / 已写入 …), for the PC page that writes them
    one at a time. NoPaidOrder when there is no such group or it is not paid."""
    group = _group_by_no(group_no)
    if group.status != "paid":
        raise NoPaidOrder(f"该批量续期当前为“{group.status_label}”，请先在手机上完成支付")
    return GroupProgress(group.group_no, [GroupKey(order) for order in group.orders])


def issue(ticket_id: object, old_signature: object, csr_pem: object, ip: str) -> Started:
    """Issue the renewed certificate: the old key's signature over the keygen challenge, the CSR's own
    signature and key policy checked; subject from the old certificate (never the CSR); validity from now to
    old not_after + years. Returns the certificate, the chain and an `install` ticket."""
    ticket = take_ticket(ticket_id, "keygen")
    order = lock_order(ticket["context"]["order_id"])
    old = lock_certificate(order.certificate_id)
    if (refused := refusal_for(old, "续期")) is not None:  # put on hold or revoked since `start`
        record_audit("pc", "renewal.issue", target=f"order:{order.id}", result="not_in_use", ip=ip,
                     detail={"status": old.status})
        raise refused
    if not signed_by_certificate(old.pem, unb64url(ticket["challenge"]), old_signature):
        record_audit("pc", "renewal.issue", target=f"order:{order.id}", result="bad_old_signature", ip=ip)
        raise RenewalRefused("原证书签名验证失败，请确认插入的是续期受理单对应的介质")
    if order.status != OrderStatus.READY_TO_WRITE:
        raise Conflict("该受理单的新证书已签发或已完成，请刷新页面", code="already_issued")
    if not isinstance(csr_pem, str) or len(csr_pem) > 10000:
        raise RenewalRefused("证书请求格式无效")
    csr = check_csr(csr_pem)
    old_public = x509.load_pem_x509_certificate(old.pem.encode()).public_key()
    if csr.public_key() == old_public:
        record_audit("pc", "renewal.issue", target=f"order:{order.id}", result="old_key_reused", ip=ip)
        raise RenewalRefused("新证书必须使用新生成的密钥")
    subject = CertSubject(organisation=old.subject_o, common_name=old.subject_cn, locality=old.subject_l,
                          province=old.subject_st, email=old.email, credit_code=old.credit_code)
    issued = get_backend().issue(csr_pem, subject, utcnow(), order.new_not_after, request_ref=f"order:{order.id}")
    order.issued_certificate_id = issued.id
    transitions.move(order, OrderStatus.ISSUED, "system", f"新证书已签发（序列号 {issued.serial}），待写入介质")
    install = issue_ticket("install", token_serial=old.medium_number, cert_serial=issued.serial, order_id=order.id,
                           cert_hash=fingerprint(issued.pem), context={"order_id": order.id})
    record_audit("pc", "renewal.issued", target=f"order:{order.id}", ip=ip, detail={"serial": issued.serial})
    return Started("install", order, install.ticket, install.ticket_id, issued.pem, chain_pems())


def void_unconfirmed(certificate_id: int) -> list[str]:
    """The certificate went on hold or was revoked (its key lost): a renewal certificate already issued onto that
    key and not yet confirmed is voided (on the CRL as keyCompromise) and its order goes back to 待制证, so the
    lost key holds no valid certificate. Registered by create_app with `certificates.revocation`. Returns the
    voided serials."""
    voided = []
    for order_id in db.session.scalars(sa.select(Order.id).where(
            Order.certificate_id == certificate_id, Order.kind == OrderKind.RENEWAL,
            Order.status == OrderStatus.ISSUED)).all():
        order = lock_order(order_id)
        issued = order.issued_certificate
        if order.status != OrderStatus.ISSUED or issued is None:
            continue
        get_backend().revoke(issued.serial, "key_compromise", void=True)
        order.issued_certificate_id = None
        transitions.move(order, OrderStatus.READY_TO_WRITE, "system", "原证书已挂失或吊销，未写入完成的新证书已作废")
        record_audit("system", "renewal.voided", target=f"order:{order.id}", detail={"serial": issued.serial})
        voided.append(issued.serial)
    return voided


@dataclass(frozen=True)
class Confirmed:
    order: Order
    certificate: Certificate
    cleanup_ticket: str


def confirm(ticket_id: object, signature: object, ip: str) -> Confirmed:
    """The new certificate is on the key (its key signed the install challenge): order completed, the old
    certificate superseded, the new one on record with the old as its predecessor, bindings and 应用 carried
    over, 续期成功 sent. Returns the `cleanup` ticket for removing the old certificate and key."""
    ticket = take_ticket(ticket_id, "install")
    order = lock_order(ticket["context"]["order_id"])
    issued: IssuedCertificate = order.issued_certificate
    if order.status != OrderStatus.ISSUED or issued is None or issued.status != IssuedStatus.ISSUED:
        raise Conflict("该受理单状态已变化，请刷新页面", code="not_issued")
    if not signed_by_certificate(issued.pem, unb64url(ticket["challenge"]), signature):
        record_audit("pc", "renewal.confirm", target=f"order:{order.id}", result="bad_new_signature", ip=ip)
        raise RenewalRefused("新证书签名验证失败，请重新写入")
    old = order.certificate
    cert = x509.load_pem_x509_certificate(issued.pem.encode())
    new = supersede(old.id, Certificate(
        serial=issued.serial, subject_o=old.subject_o, subject_cn=old.subject_cn, subject_l=old.subject_l,
        subject_st=old.subject_st, email=old.email, legal_representative=old.legal_representative,
        cert_type=old.cert_type, not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        medium_number=old.medium_number, pem=issued.pem))
    order.new_certificate_id = new.id
    transitions.move(order, OrderStatus.COMPLETED, "system", "新证书已写入介质，续期完成")
    for user_id in sorted(set(bound_user_ids(new.id)) | {order.user_id}):
        queue_notice(user_id, "renewal_done", {"organisation": new.subject_o,
                                               "not_after": local_day(new.not_after)})
    cleanup = issue_ticket("cleanup", token_serial=old.medium_number, cert_serial=old.serial, order_id=order.id,
                           cert_hash=fingerprint(issued.pem), context={"order_id": order.id})
    record_audit("pc", "renewal.completed", target=f"order:{order.id}", ip=ip,
                 detail={"old": old.serial, "new": new.serial})
    return Confirmed(order, new, cleanup.ticket)

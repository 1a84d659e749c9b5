"""A seeded set of certificates around the reminder stages, for the scan and delivery tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from tests.support.factories import bind, make_user
from wxbackend.certificates.models import CertApp, Certificate, CertificateStatus
from wxbackend.core.db import db
from wxbackend.core.times import SHANGHAI, local_day_start
from wxbackend.orders.models import Order, OrderKind, OrderStatus, RenewalPath
from wxbackend.users.models import User

TODAY = datetime.now(SHANGHAI).date()  # the scans are told the day; the renew pages see the real one
STAGES = (90, 30, 7, 0, -7, -30)


def ending_on(day: date, hour: int = 12):
    """A moment on `day` in Asia/Shanghai (noon by default)."""
    return local_day_start(day) + timedelta(hours=hour)


def certificate_ending(days: int, organisation: str = "广州某某科技有限公司", hour: int = 12,
                       previous: Certificate | None = None, apps: tuple[tuple[str, int], ...] = (),
                       status: str = CertificateStatus.VALID) -> Certificate:
    """A certificate whose end falls `days` after TODAY (Asia/Shanghai), with 应用 ending `days` after TODAY each."""
    not_after = ending_on(TODAY + timedelta(days=days), hour)
    certificate = Certificate(serial=secrets.token_hex(16).upper(), subject_o=organisation, subject_cn=organisation,
                              not_before=not_after - timedelta(days=365), not_after=not_after,
                              medium_number=secrets.token_hex(8), pem="-", cert_type="org_sign",
                              previous_id=previous.id if previous else None, status=status)
    for name, app_days in apps:
        certificate.apps.append(CertApp(name=name, expires_at=ending_on(TODAY + timedelta(days=app_days))))
    db.session.add(certificate)
    db.session.flush()
    return certificate


def open_order(user: User, certificate: Certificate) -> Order:
    """An order waiting for payment, written directly (the order service checks today's eligibility, and the
    seeded set lives on TODAY)."""
    order = Order(order_no="SA" + secrets.token_hex(6), user_id=user.id, certificate_id=certificate.id,
                  kind=OrderKind.RENEWAL, path=RenewalPath.ONLINE, years=1, amount_fen=30000,
                  fee_detail="证书续期 300.00元/年 × 1年", status=OrderStatus.PENDING_PAYMENT,
                  old_not_after=certificate.not_after, new_not_after=certificate.not_after + timedelta(days=365))
    db.session.add(order)
    db.session.flush()
    return order


@dataclass
class Seeded:
    user: User
    due: dict[int, Certificate] = field(default_factory=dict)  # stage -> the certificate reminded at it
    app: CertApp | None = None  # reminded at 30
    same_day: list[Certificate] = field(default_factory=list)  # more at stage 30, the same not_after
    quiet: list[Certificate] = field(default_factory=list)  # nothing expected for these


def seed() -> Seeded:
    """One bound certificate at each stage, an 应用 at 30, three more at 30 ending the same moment, and what gets
    nothing: the days next to each stage, a renewed certificate (a newer one in its lineage), one with an open order,
    one nobody is bound to, one revoked."""
    user = make_user("张三")
    seeded = Seeded(user)
    for stage in STAGES:
        seeded.due[stage] = certificate_ending(stage, f"第{stage}天机构")
        bind(user, seeded.due[stage])
    with_app = certificate_ending(200, "有应用的机构", apps=(("广东省政府采购网", 30),))
    bind(user, with_app)
    seeded.app = with_app.apps[0]
    for n in range(3):
        same = certificate_ending(30, f"同日到期机构{n}", hour=9)
        bind(user, same)
        seeded.same_day.append(same)
    for stage in STAGES:
        for near in (stage - 1, stage + 1):
            if near not in STAGES:
                quiet = certificate_ending(near, f"第{near}天机构")
                bind(user, quiet)
                seeded.quiet.append(quiet)
    renewed = certificate_ending(7, "已续期机构")
    bind(user, renewed)
    newer = certificate_ending(372, "已续期机构", previous=renewed)
    bind(user, newer)
    ordered = certificate_ending(30, "有受理单机构")
    bind(user, ordered)
    open_order(user, ordered)
    unbound = certificate_ending(0, "无人绑定机构")
    revoked = certificate_ending(-7, "已吊销机构", status=CertificateStatus.REVOKED)
    bind(user, revoked)
    seeded.quiet += [renewed, ordered, unbound, revoked]
    db.session.flush()
    return seeded


def expected_count(seeded: Seeded) -> int:
    return len(seeded.due) + 1 + len(seeded.same_day)

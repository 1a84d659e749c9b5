"""The status machines of certificates, bindings and 应用 (DESIGN §3): the moves the certificate code makes, and
the expiry sweep's bulk moves. Nothing else assigns these statuses; an illegal move raises and changes nothing."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from wxbackend.certificates.models import (
    BINDING_STATUS_LABELS,
    CERT_APP_STATUS_LABELS,
    CERTIFICATE_STATUS_LABELS,
    HOLD_STATUS_LABELS,
    BindingStatus,
    CertApp,
    CertAppStatus,
    Certificate,
    CertificateStatus,
    HoldStatus,
)
from wxbackend.core.db import db
from wxbackend.core.states import IllegalTransition, StateMachine


class IllegalCertificateTransition(IllegalTransition):
    code = "illegal_certificate_transition"


class IllegalBindingTransition(IllegalTransition):
    code = "illegal_binding_transition"


class IllegalAppTransition(IllegalTransition):
    code = "illegal_app_transition"


class IllegalHoldTransition(IllegalTransition):
    code = "illegal_hold_transition"


C = CertificateStatus
CERTIFICATE_STATES = StateMachine({
    C.VALID: {C.EXPIRED, C.SUPERSEDED, C.ON_HOLD, C.REVOKED},
    C.EXPIRED: {C.SUPERSEDED, C.ON_HOLD, C.REVOKED},  # superseded: renewed on the reviewed path
    C.ON_HOLD: {C.VALID, C.EXPIRED, C.REVOKED},  # the hold withdrawn (key found), or the loss confirmed
    C.SUPERSEDED: set(),
    C.REVOKED: set(),
}, noun="证书", labels=CERTIFICATE_STATUS_LABELS, error=IllegalCertificateTransition)

BINDING_STATES = StateMachine({
    BindingStatus.ACTIVE: {BindingStatus.UNBOUND},  # binding again makes a new row
    BindingStatus.UNBOUND: set(),
}, noun="证书绑定", labels=BINDING_STATUS_LABELS, error=IllegalBindingTransition)

HOLD_STATES = StateMachine({
    HoldStatus.ACTIVE: {HoldStatus.WITHDRAWN, HoldStatus.REVOKED},
    HoldStatus.WITHDRAWN: set(),  # a new report makes a new row
    HoldStatus.REVOKED: set(),
}, noun="挂失", labels=HOLD_STATUS_LABELS, error=IllegalHoldTransition)

A = CertAppStatus
APP_STATES = StateMachine({
    A.ACTIVE: {A.EXPIRED},
    A.EXPIRED: {A.ACTIVE},  # renewed (应用续期) after the sweep marked it expired
    A.DISABLED: {A.ACTIVE},  # a paid 应用续期 enables it again, as it always has
}, noun="应用", labels=CERT_APP_STATUS_LABELS, error=IllegalAppTransition)


def expire_certificates(now: datetime) -> list[int]:
    """Move every valid certificate whose not_after has passed to expired (one UPDATE); returns their ids."""
    expired_ids = list(db.session.scalars(
        sa.select(Certificate.id).where(Certificate.status == C.VALID, Certificate.not_after <= now)))
    if expired_ids:
        CERTIFICATE_STATES.move_all(Certificate, C.EXPIRED, Certificate.id.in_(expired_ids))
    return expired_ids


def expire_apps(now: datetime) -> int:
    """Move every active 应用 whose expiry has passed to expired (one UPDATE); returns how many moved."""
    return APP_STATES.move_all(CertApp, A.EXPIRED, CertApp.expires_at <= now)

"""Certificates: one certificate superseded by its successor (renewal, later lost-key replacement)."""

from __future__ import annotations

import secrets

import pytest
import sqlalchemy as sa

from tests.support.factories import bind, make_certificate, make_user
from wxbackend.certificates.models import Binding, BindingStatus, Certificate, CertificateStatus
from wxbackend.certificates.service import end_binding, supersede
from wxbackend.certificates.transitions import CERTIFICATE_STATES, IllegalCertificateTransition
from wxbackend.core.errors import Conflict, NotFound


def successor_of(old: Certificate) -> Certificate:
    """A new certificate for the same subject and key medium, not yet stored."""
    return Certificate(serial=secrets.token_hex(16).upper(), subject_o=old.subject_o, subject_cn=old.subject_cn,
                       not_before=old.not_before, not_after=old.not_after, medium_number=old.medium_number, pem="-")


def bindings_of(db_session, certificate: Certificate) -> list[tuple[int, str]]:
    return [(b.user_id, b.status) for b in db_session.scalars(
        sa.select(Binding).where(Binding.certificate_id == certificate.id).order_by(Binding.user_id, Binding.id))]


def test_supersede_moves_lineage_apps_and_bindings_to_the_successor(db_session):
    old = make_certificate(apps=(("招标平台", 200), ("采购平台", -10)))
    apps = list(old.apps)
    first, second, gone = make_user("甲"), make_user("乙"), make_user("丙")
    for user in (first, second, gone):
        bind(user, old)
    end_binding(db_session.scalar(sa.select(Binding).where(Binding.user_id == gone.id)))

    new = supersede(old.id, successor_of(old))

    assert new.id is not None and new.previous_id == old.id and new.previous is old
    assert old.status == CertificateStatus.SUPERSEDED and new.status == CertificateStatus.VALID
    assert new.apps == apps and old.apps == []
    assert [(app.certificate_id, app.expires_at) for app in apps] == [(new.id, app.expires_at) for app in apps]
    assert bindings_of(db_session, old) == [(first.id, "unbound"), (second.id, "unbound"), (gone.id, "unbound")]
    assert bindings_of(db_session, new) == [(first.id, "active"), (second.id, "active")]  # not the one who left
    assert all(b.unbound_at is not None for b in db_session.scalars(
        sa.select(Binding).where(Binding.certificate_id == old.id)))


def test_supersede_refuses_and_changes_nothing(db_session):
    old = make_certificate(apps=(("招标平台", 200),))
    user = make_user()
    bind(user, old)
    new = supersede(old.id, successor_of(old))
    with pytest.raises(IllegalCertificateTransition) as refused:  # once superseded, a certificate stays so
        supersede(old.id, successor_of(old))
    assert refused.value.message == "证书当前为“已更新”，不能变为“已更新”"
    revoked = make_certificate()
    revoked.status = CertificateStatus.REVOKED  # (no code revokes a certificate record yet)
    with pytest.raises(IllegalCertificateTransition):
        supersede(revoked.id, successor_of(revoked))
    another = make_certificate()
    with pytest.raises(Conflict, match="续期链"):  # the successor already descends from another certificate
        supersede(another.id, new)
    with pytest.raises(NotFound):
        supersede(0, successor_of(old))
    stored = db_session.scalars(sa.select(Certificate.id).order_by(Certificate.id)).all()
    assert stored == sorted([old.id, new.id, revoked.id, another.id])  # no refused successor was stored
    assert (revoked.status, another.status) == (CertificateStatus.REVOKED, CertificateStatus.VALID)
    assert [app.certificate_id for app in new.apps] == [new.id]
    assert bindings_of(db_session, new) == [(user.id, BindingStatus.ACTIVE)]
    assert CERTIFICATE_STATES.can_move(new, CertificateStatus.SUPERSEDED)  # the newest of the lineage may go on

"""The http identity provider against a fake verification service on 127.0.0.1."""

from __future__ import annotations

import pytest
import requests
import sqlalchemy as sa

from fakes.identity import create_fake_identity
from fakes.server import serve_in_thread
from tests.support.factories import make_user
from wxbackend.core.errors import UpstreamError
from wxbackend.identity.models import IdentityCheck
from wxbackend.identity.service import InvalidIdentity, verify_identity

PERSON = {"name": "李四", "id_number": "11010519491231002X", "mobile": "13812345678"}


@pytest.fixture
def http_provider(app, db_session, monkeypatch):
    fake = serve_in_thread(create_fake_identity("provider-key"))
    requests.post(fake.base_url + "_fake/people", json=PERSON, timeout=5)
    monkeypatch.setitem(app.config, "IDENTITY_PROVIDER", "http")
    monkeypatch.setitem(app.config, "IDENTITY_PROVIDER_URL", fake.base_url)
    monkeypatch.setitem(app.config, "IDENTITY_PROVIDER_KEY", "provider-key")
    yield fake
    fake.stop()


def test_matching_person_passes(http_provider, db_session):
    user = make_user(verified=False)
    check = verify_identity(user.id, PERSON["name"], PERSON["id_number"], PERSON["mobile"], consent=True)
    assert check.provider == "http" and check.result == "passed" and user.identity_verified


def test_mismatch_is_recorded_and_refused_with_the_reason(http_provider, db_session):
    user = make_user(verified=False)
    with pytest.raises(InvalidIdentity) as refused:
        verify_identity(user.id, PERSON["name"], PERSON["id_number"], "13900000000", consent=True)
    assert refused.value.message == "身份核验未通过：手机号码非本人实名登记"
    [check] = db_session.scalars(sa.select(IdentityCheck)).all()
    assert check.result == "failed" and not user.identity_verified


def test_locally_invalid_numbers_never_reach_the_provider(http_provider, db_session):
    user = make_user(verified=False)
    with pytest.raises(InvalidIdentity):
        verify_identity(user.id, PERSON["name"], "110105194912310021", PERSON["mobile"], consent=True)
    assert requests.get(http_provider.base_url + "_fake/calls", timeout=5).json() == {"verify": 0}


def test_provider_down_is_an_upstream_error_and_saves_nothing(http_provider, app, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "IDENTITY_PROVIDER_KEY", "wrong-key")  # 401 from the provider
    user = make_user(verified=False)
    with pytest.raises(UpstreamError):
        verify_identity(user.id, PERSON["name"], PERSON["id_number"], PERSON["mobile"], consent=True)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(IdentityCheck)) == 0

"""The whole JSON API (/api/openapi.json) under schemathesis: generated valid and invalid requests with a bearer
token, a fixed seed, a few hundred cases; not one may answer with a server error (issue 18)."""

import contextvars
import time
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.support.factories import bind, make_certificate, make_user, pending_order
from wxbackend.web.auth import issue_api_token

EXAMPLES_PER_OPERATION = 5  # per generation mode; ~40 operations → a few hundred cases
SEED = 18


@pytest.fixture
def bearer(app, db_session, monkeypatch):
    """A signed-in mini-program user with a certificate and an order, and limits out of the way of the fuzzer."""
    for key in ("IDENTITY_CHECK_LIMIT", "IDENTITY_CHECK_LIMIT_PER_IP", "PC_START_LIMIT", "PC_SIGNATURE_LIMIT",
                "BIND_CLAIM_LIMIT", "SIGN_IN_LIMIT", "PAYMENT_START_LIMIT", "INVOICE_REQUEST_LIMIT"):
        monkeypatch.setitem(app.config, key, "100000 per hour")
    user = make_user()
    certificate = make_certificate()
    bind(user, certificate)
    pending_order(user=user)
    db_session.commit()
    token, _ = issue_api_token(user.id)
    return {"Authorization": f"Bearer {token}"}


def send(app, case, headers):
    """The case through the test client, each request in a fresh context as in production."""
    kwargs = case.as_transport_kwargs(headers=headers)
    client = app.test_client()
    return contextvars.Context().run(
        client.open, kwargs["url"] if "url" in kwargs else kwargs["path"], method=kwargs["method"],
        headers=kwargs.get("headers"), query_string=kwargs.get("params"), json=kwargs.get("json"),
        data=kwargs.get("data"))


def test_no_generated_request_is_a_server_error(app, bearer):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    failures, statuses = [], Counter()
    started = time.monotonic()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @seed(SEED)
            @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=False,
                      suppress_health_check=list(HealthCheck), phases=[Phase.generate])
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                response = send(app, case, bearer)
                statuses[response.status_code] += 1
                try:
                    case.validate_response(response, checks=[not_a_server_error])
                except (AssertionError, BaseExceptionGroup) as failed:  # a check failure, or several
                    failures.append((operation.label, mode.value, response.status_code, str(failed)[:300],
                                     case.as_curl_command()))
                if response.status_code >= 500:  # whatever the check thinks
                    failures.append((operation.label, mode.value, response.status_code, response.text[:300]))

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (e.g. a GET without parameters)
                assert mode is GenerationMode.NEGATIVE, operation.label
    print(f"{sum(statuses.values())} cases in {time.monotonic() - started:.1f} s: {sorted(statuses.items())}")
    assert failures == []
    assert sum(statuses.values()) >= 200
    assert 401 not in statuses and sum(n for status, n in statuses.items() if status < 300) >= 5  # signed in

"""The whole JSON API (/api/openapi.json) under schemathesis with every check it has (`--checks all`): generated
valid and invalid requests with a bearer token, a fixed seed, a few hundred cases; not one may answer with a server
error, a status code or a body the document does not describe, or accept what the document forbids (issues 15, 18)."""

import contextvars
import time
from collections import Counter
from types import SimpleNamespace

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig

from tests.support.applications import expired_order
from tests.support.factories import bind, make_certificate, make_user, pending_order
from wxbackend.applications import service as applications
from wxbackend.web.auth import issue_api_token

# per generation mode; ~50 operations → a few hundred cases (about a third of the negative ones drop the token)
EXAMPLES_PER_OPERATION = {GenerationMode.POSITIVE: 8, GenerationMode.NEGATIVE: 5}
EXAMPLES_ON_OWN_IDS = {GenerationMode.POSITIVE: 3, GenerationMode.NEGATIVE: 2}
SEED = 18
# A schema-valid request is not always a request the domain accepts: a credit code's check character, a binding code
# that exists only while a PC waits, a WeChat login code, a field another one makes required — those answer 400
# (with `errors`) or 410 (a session that has ended), as documented. Everything else the default allows.
ACCEPTED = {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404", "409", "410",
                                                                "429"]}}


@pytest.fixture
def user(app, db_session, monkeypatch):
    """A signed-in mini-program user with a certificate, an order waiting for payment and an application of an
    expired certificate's order, and limits out of the way of the fuzzer."""
    for key in ("IDENTITY_CHECK_LIMIT", "IDENTITY_CHECK_LIMIT_PER_IP", "PC_START_LIMIT", "PC_SIGNATURE_LIMIT",
                "BIND_CLAIM_LIMIT", "SIGN_IN_LIMIT", "PAYMENT_START_LIMIT", "INVOICE_REQUEST_LIMIT",
                "SERIAL_LOOKUP_LIMIT"):
        monkeypatch.setitem(app.config, key, "100000 per hour")
    user = make_user()
    certificate = make_certificate()
    bind(user, certificate)
    order = pending_order(user=user)
    application = applications.start(user.id, expired_order(user=user).id)
    db_session.commit()
    token, _ = issue_api_token(user.id)
    return SimpleNamespace(headers={"Authorization": f"Bearer {token}"}, certificate_id=certificate.id,
                           order_id=order.id, application_id=application.id)


def negates_sign_in(case) -> bool:
    """A negative case whose point is a missing or malformed Authorization header: sent as generated."""
    data = case.meta.phase.data if case.meta is not None else None
    return getattr(data, "parameter", None) == "Authorization" and str(data.parameter_location) in (
        "header", "ParameterLocation.HEADER")


def send(app, case, headers):
    """The case through the test client, each request in a fresh context as in production."""
    kwargs = case.as_transport_kwargs(headers=None if negates_sign_in(case) else headers)  # werkzeug's own names
    kwargs.setdefault("path", kwargs.pop("url", None))
    return contextvars.Context().run(app.test_client().open, **kwargs)


def all_checks():
    """`--checks all`: every check schemathesis registers."""
    load_all_checks()
    return CHECKS.get_all()


def fuzz(app, headers, config: dict, examples: dict, ids: dict | None = None) -> tuple[list, Counter, Counter]:
    """Every operation, valid and invalid cases, every check: (failures, statuses, statuses without a token).
    With `ids`, the path parameters of those names take those values."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app, config=SchemathesisConfig.from_dict(config))
    checks = all_checks()
    assert len(checks) >= 12, [check.__name__ for check in checks]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 45
    failures, statuses, unsigned = [], Counter(), Counter()
    started = time.monotonic()
    for operation in operations:
        fixed = {name: value for name, value in (ids or {}).items() if f"{{{name}}}" in operation.path}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @seed(SEED)
            @settings(max_examples=examples[mode], deadline=None, database=None, derandomize=False,
                      suppress_health_check=list(HealthCheck), phases=[Phase.generate])
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed or None))
            def run(case):
                response = send(app, case, headers)
                statuses[response.status_code] += 1
                if negates_sign_in(case):
                    unsigned[response.status_code] += 1
                try:
                    case.validate_response(response, checks=checks, headers=headers)
                except (AssertionError, BaseExceptionGroup) as failed:  # a check failure, or several
                    failures.append((operation.label, mode.value, response.status_code, str(failed)[:300],
                                     case.as_curl_command()))
                if response.status_code >= 500:  # whatever the check thinks
                    failures.append((operation.label, mode.value, response.status_code, response.text[:300]))

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (e.g. a GET without parameters)
                assert mode is GenerationMode.NEGATIVE, operation.label
    print(f"{sum(statuses.values())} cases in {time.monotonic() - started:.1f} s: {sorted(statuses.items())}, "
          f"without a valid token: {sorted(unsigned.items())}")
    for failure in failures:
        print(*failure, sep="\n  ")
    return failures, statuses, unsigned


def test_no_generated_request_fails_any_check(app, user):
    failures, statuses, unsigned = fuzz(app, user.headers, {"checks": ACCEPTED}, EXAMPLES_PER_OPERATION)
    assert failures == []
    assert sum(statuses.values()) >= 200
    assert set(unsigned) == {401} and unsigned[401] >= 20  # a missing or malformed token: 401, nothing else
    assert statuses[401] == unsigned[401] and sum(n for status, n in statuses.items() if status < 300) >= 40


def test_on_the_users_own_ids_no_request_fails_any_check(app, user):
    """The same with every path id one of the user's own: the operations get past "not found" to their work."""
    own = {"certificate_id": user.certificate_id, "order_id": user.order_id, "application_id": user.application_id}
    failures, statuses, _ = fuzz(app, user.headers, {"checks": ACCEPTED}, EXAMPLES_ON_OWN_IDS, own)
    assert failures == []
    assert sum(n for status, n in statuses.items() if status < 300) >= 40

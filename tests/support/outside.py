"""The fakes of four outside services — FaceID liveness, the bank payout gateway, the SMS gateway and 快递100 —
loaded as a pytest plugin by tests/conftest.py. Each runs once per test run on 127.0.0.1 (`*_server`, session
scope); the function fixtures (`fake_liveness`, `fake_payouts`, `fake_sms`, `fake_express`) empty it, point the
app at it through its real adapter (`tencent`, `http`, `http`, `kuaidi100`) and return a driver for its
`/_fake/…` controls. `driver.use(other_app, monkeypatch)` points another app (the live server of a browser test)
at the same fake.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from fakes.bank_payout import create_fake_bank_payout
from fakes.express import create_fake_kuaidi100
from fakes.liveness import create_fake_liveness
from fakes.server import serve_in_thread
from fakes.sms import create_fake_sms
from tests.support.fakes import FakeServer

LIVENESS_SECRET_ID, LIVENESS_SECRET_KEY = "AKIDtestfaceid0001", "test-faceid-secret-key"
PAYOUT_MERCHANT, PAYOUT_KEY = "test-merchant-0001", "test-payout-hmac-key"
SMS_APP, SMS_KEY = "test-sms-app-0001", "test-sms-hmac-key"
EXPRESS_CUSTOMER, EXPRESS_KEY = "TESTCUSTOMER0001", "test-kuaidi100-key"
ADAPTER_TIMEOUT_SECONDS = 5


@dataclass
class OutsideFake(FakeServer):
    settings: dict = field(default_factory=dict)

    def use(self, app, monkeypatch) -> None:
        """Point `app` at this fake for the test (undone by monkeypatch)."""
        for key, value in self.settings.items():
            monkeypatch.setitem(app.config, key, value)

    def mode(self, mode: str, **extra) -> dict:
        """normal | timeout | error (and the fake's own modes); `delay=` seconds for timeout."""
        return self.control("POST", "mode", json={"mode": mode, **extra})


class LivenessFake(OutsideFake):
    def sessions(self) -> list[dict]:
        return self.control("GET", "sessions")

    def finish(self, biz_token: str, outcome: str) -> None:
        """What the hosted page's 通过 ("passed") / 不通过 ("failed") buttons record, without a browser."""
        self.control("POST", "finish", json={"biz_token": biz_token, "outcome": outcome})

    def expire(self, biz_token: str) -> None:
        self.control("POST", "expire", json={"biz_token": biz_token})

    def forged_redirect_url(self, biz_token: str) -> str:
        """A URL that 302s to the return URL with the token, as if the user had passed — the outcome untouched."""
        return self.base_url + f"_fake/forged-redirect/{biz_token}"


class PayoutFake(OutsideFake):
    def payouts(self) -> list[dict]:
        """Every payout the bank made, remark included, oldest first."""
        return self.control("GET", "payouts")

    def settle(self, idempotency_key: str, status: str, reason: str = "") -> None:
        """Move a `processing` payout (mode "normal", outcome="processing") to succeeded or failed."""
        self.control("POST", "settle", json={"idempotency_key": idempotency_key, "status": status, "reason": reason})


class SmsFake(OutsideFake):
    def messages(self) -> list[dict]:
        """Every message sent, with its template and params, oldest first."""
        return self.control("GET", "messages")


class ExpressFake(OutsideFake):
    def add_waybill(self, com: str, num: str, phone: str = "") -> None:
        """A waybill the carrier knows: state 1 (揽收) with one event."""
        self.control("POST", "waybills", json={"com": com, "num": num, "phone": phone})

    def advance(self, com: str, num: str, state: int, context: str) -> None:
        self.control("POST", "advance", json={"com": com, "num": num, "state": state, "context": context})


@pytest.fixture(scope="session")
def fake_liveness_server():
    fake = serve_in_thread(create_fake_liveness(LIVENESS_SECRET_ID, LIVENESS_SECRET_KEY))
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def fake_payouts_server():
    fake = serve_in_thread(create_fake_bank_payout(PAYOUT_MERCHANT, PAYOUT_KEY))
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def fake_sms_server():
    fake = serve_in_thread(create_fake_sms(SMS_APP, SMS_KEY))
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def fake_express_server():
    fake = serve_in_thread(create_fake_kuaidi100(EXPRESS_CUSTOMER, EXPRESS_KEY))
    yield fake
    fake.stop()


def _ready(driver: OutsideFake, app, monkeypatch) -> OutsideFake:
    driver.reset()
    driver.use(app, monkeypatch)
    return driver


@pytest.fixture
def fake_liveness(fake_liveness_server, app, db_session, monkeypatch) -> LivenessFake:
    """The app's liveness through the `tencent` provider against the fake FaceID (API and hosted page)."""
    base = fake_liveness_server.base_url
    return _ready(LivenessFake(base, {
        "LIVENESS_PROVIDER": "tencent", "LIVENESS_API_BASE": base, "LIVENESS_SECRET_ID": LIVENESS_SECRET_ID,
        "LIVENESS_SECRET_KEY": LIVENESS_SECRET_KEY, "LIVENESS_RULE_ID": "1",
        "LIVENESS_TIMEOUT_SECONDS": ADAPTER_TIMEOUT_SECONDS}), app, monkeypatch)


@pytest.fixture
def fake_payouts(fake_payouts_server, app, db_session, monkeypatch) -> PayoutFake:
    """The app's payouts through the `http` adapter against the fake bank gateway."""
    base = fake_payouts_server.base_url
    return _ready(PayoutFake(base, {
        "BANK_PAYOUT_ADAPTER": "http", "BANK_PAYOUT_URL": base, "BANK_PAYOUT_MERCHANT_ID": PAYOUT_MERCHANT,
        "BANK_PAYOUT_HMAC_KEY": PAYOUT_KEY, "BANK_PAYOUT_TIMEOUT_SECONDS": ADAPTER_TIMEOUT_SECONDS}),
        app, monkeypatch)


@pytest.fixture
def fake_sms(fake_sms_server, app, db_session, monkeypatch) -> SmsFake:
    """The app's text messages through the `http` adapter against the fake SMS gateway."""
    base = fake_sms_server.base_url
    return _ready(SmsFake(base, {
        "SMS_ADAPTER": "http", "SMS_URL": base, "SMS_APP_ID": SMS_APP, "SMS_HMAC_KEY": SMS_KEY,
        "SMS_TIMEOUT_SECONDS": ADAPTER_TIMEOUT_SECONDS}), app, monkeypatch)


@pytest.fixture
def fake_express(fake_express_server, app, db_session, monkeypatch) -> ExpressFake:
    """The app's tracking through the `kuaidi100` adapter against the fake 快递100."""
    base = fake_express_server.base_url
    return _ready(ExpressFake(base, {
        "EXPRESS_ADAPTER": "kuaidi100", "EXPRESS_QUERY_URL": base + "poll/query.do",
        "EXPRESS_CUSTOMER": EXPRESS_CUSTOMER, "EXPRESS_KEY": EXPRESS_KEY,
        "EXPRESS_TIMEOUT_SECONDS": ADAPTER_TIMEOUT_SECONDS}), app, monkeypatch)

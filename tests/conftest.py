"""Test harness on real parts: PostgreSQL (a fresh database per run), Redis (a database of its own per run),
SoftHSM2 tokens in temporary directories, the key helper as a real subprocess, the local CA in a temporary
directory."""

from __future__ import annotations

import atexit
import base64
import contextvars
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pkcs11
import pytest
import redis
import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from wxbackend import create_app
from wxbackend.core.db import db
from wxbackend.demo import softhsm

pytest_plugins = ["tests.support.live", "tests.support.helper_build", "tests.support.outside"]
ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_SERVER_URL = os.environ.get("TEST_REDIS_SERVER_URL", "redis://127.0.0.1:6379")
REDIS_LOCK_SECONDS = 60


class RedisDatabaseLock:
    """One of Redis's databases 1-15 for this run, held by a key `cagj-test-db:<n>` in db 0 (`SET NX EX`, renewed
    from a thread while the run lasts, deleted at its end): two runs on one host never flush each other's data."""

    def __init__(self, server_url: str):
        self.server = redis.Redis.from_url(server_url + "/0")
        self.token = f"{os.getpid()}:{secrets.token_hex(8)}"
        self.key: str | None = None
        self.number: int | None = None
        self._stop = threading.Event()

    def acquire(self) -> int:
        for number in range(1, 16):
            if self.claim(number):
                return number
        raise RuntimeError("every Redis test database 1-15 is taken by another run (keys cagj-test-db:<n> in db 0)")

    def claim(self, number: int) -> bool:
        """Take database `number` if no run holds it."""
        key = f"cagj-test-db:{number}"
        if not self.server.set(key, self.token, nx=True, ex=REDIS_LOCK_SECONDS):
            return False
        self.key, self.number = key, number
        threading.Thread(target=self._renew, daemon=True, name="redis-test-db-lock").start()
        atexit.register(self.release)
        return True

    def holds(self) -> bool:
        return self.key is not None and self.server.get(self.key) == self.token.encode()

    def _renew(self) -> None:
        while not self._stop.wait(REDIS_LOCK_SECONDS / 3):
            if self.holds():
                self.server.expire(self.key, REDIS_LOCK_SECONDS)

    def release(self) -> None:
        self._stop.set()
        if self.holds():
            self.server.delete(self.key)


if os.environ.get("TEST_REDIS_URL"):  # an explicit database (and the child processes of a run, which inherit it)
    TEST_REDIS_URL = os.environ["TEST_REDIS_URL"]
    REDIS_LOCK = RedisDatabaseLock(REDIS_SERVER_URL)
    _explicit = TEST_REDIS_URL.removeprefix(REDIS_SERVER_URL + "/")
    # marked as taken too (unless a parent run holds it already), so that a run choosing by itself avoids it
    if not (_explicit.isdigit() and 1 <= int(_explicit) <= 15 and REDIS_LOCK.claim(int(_explicit))):
        REDIS_LOCK = None
else:
    REDIS_LOCK = RedisDatabaseLock(REDIS_SERVER_URL)
    TEST_REDIS_URL = f"{REDIS_SERVER_URL}/{REDIS_LOCK.acquire()}"
    os.environ["TEST_REDIS_URL"] = TEST_REDIS_URL

PKCS11_MODULE = os.environ.get("TEST_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
PC_ORIGIN = "http://127.0.0.1:5000"
ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_database(admin_url: str, name: str) -> str:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_database():
    name = f"cagj_test_{os.getpid()}"
    url = create_database(PG_ADMIN_URL, name)
    yield url
    drop_database(PG_ADMIN_URL, name)


TICKET_SEED = base64.b64encode(os.urandom(32)).decode()
TICKET_PUBLIC_KEY = base64.b64encode(Ed25519PrivateKey.from_private_bytes(base64.b64decode(TICKET_SEED)).public_key()
                                     .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


@pytest.fixture(scope="session")
def fake_wechat_server():
    """The fake WeChat API server, one for the whole run (tests reset it through `wechat`)."""
    from fakes.server import serve_in_thread
    from fakes.wechat import create_fake_wechat
    from tests.support import wechat as wx

    fake = serve_in_thread(create_fake_wechat({wx.APP_ID: wx.APP_SECRET, wx.MINI_APP_ID: wx.MINI_APP_SECRET}))
    yield fake
    fake.stop()


@pytest.fixture
def wechat(fake_wechat_server, app, db_session):
    """The fake WeChat server, emptied for this test and again after it (no queued failure or delay outlives the
    test), and the app's cached WeChat clients dropped both times (none built with a test's timeout survives)."""
    from tests.support.wechat import FakeWeChat

    fake = FakeWeChat(fake_wechat_server.base_url)
    fake.reset()
    app.extensions.pop("wechat_clients", None)
    try:
        yield fake
    finally:
        fake.reset()
        app.extensions.pop("wechat_clients", None)


def wechat_settings(fake_base_url: str) -> dict:
    from tests.support import wechat as wx

    return {
        "WECHAT_APP_ID": wx.APP_ID, "WECHAT_APP_SECRET": wx.APP_SECRET, "WECHAT_TOKEN": wx.TOKEN,
        "WECHAT_AES_KEY": wx.AES_KEY, "WECHAT_MINI_APP_ID": wx.MINI_APP_ID,
        "WECHAT_MINI_APP_SECRET": wx.MINI_APP_SECRET, "WECHAT_API_BASE": fake_base_url,
        "WECHAT_OAUTH_BASE": fake_base_url + "connect/",
        "WECHAT_NOTICE_TEMPLATES": [f"{kind}={tpl}" for kind, tpl in wx.TEMPLATES.items()],
        "WECHAT_MINI_NOTICE_TEMPLATES": [f"{kind}={tpl}" for kind, tpl in wx.MINI_TEMPLATES.items()],
    }


@pytest.fixture(scope="session")
def app_config(pg_database, tmp_path_factory, fake_wechat_server, fake_wechatpay_server) -> dict:
    base = tmp_path_factory.mktemp("app")
    return {
        **wechat_settings(fake_wechat_server.base_url),
        **fake_wechatpay_server.settings,
        "TICKET_SIGNING_KEY": TICKET_SEED,
        "APP_ENV": "testing",
        "DATABASE_URL": pg_database,
        "REDIS_URL": TEST_REDIS_URL,
        "CA_DIR": str(base / "ca"),
        "SOFTHSM2_CONF": str(base / "softhsm" / "softhsm2.conf"),
        "PKCS11_MODULE": PKCS11_MODULE,
        "PUBLIC_BASE_URL": PC_ORIGIN,
        "HELPER_ALLOWED_ORIGINS": [PC_ORIGIN],
    }


class IsolatedClient(FlaskClient):
    """Each request in a fresh context, as in production: the test's own app context (kept open for its
    db session) must not lend its `g` to the requests, or one user's state would leak into the next request."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture(scope="session")
def app(app_config):
    from flask_migrate import upgrade

    from wxbackend.ca.service import init_ca

    app = create_app(app_config)
    app.test_client_class = IsolatedClient
    with app.app_context():
        upgrade()
        init_ca(app.config)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def db_session(app):
    """An app context whose session lives in a transaction rolled back after the test; the run's Redis db emptied.

    Flask-SQLAlchemy's session asks `db.engines` for its bind, so the test connection stands in for the engine
    there; commits inside the code under test release savepoints only.
    """
    with app.app_context():
        engines = db.engines
        engine = engines[None]
        connection = engine.connect()
        transaction = connection.begin()
        engines[None] = connection
        original = db.session
        db.session = db._make_scoped_session({"join_transaction_mode": "create_savepoint"})
        redis.Redis.from_url(TEST_REDIS_URL).flushdb()
        try:
            yield db.session
        finally:
            db.session.remove()
            db.session = original
            engines[None] = engine
            transaction.rollback()
            connection.close()


@pytest.fixture
def client(app, db_session):
    return app.test_client()


@pytest.fixture
def plain_wechat(app):
    """The official account in plaintext mode for this test (no EncodingAESKey: `/wechat` accepts `post_plain`)."""
    from tests.support.wechat import plain_mode

    with plain_mode(app):
        yield


@dataclass
class SoftHsm:
    """A SoftHSM2 store of its own: tokens made here are 'keys plugged in'."""

    conf: Path

    def make_token(self, label: str = "TEST UKEY", pin: str = "12345678", so_pin: str = "87654321") -> str:
        return softhsm.init_token(self.conf, label, pin, so_pin)

    def delete_token(self, serial: str) -> None:
        softhsm.delete_token(self.conf, serial)

    def lib(self):
        """The PKCS#11 module in this process, reinitialised to see this store."""
        lib = pkcs11.lib(PKCS11_MODULE)
        lib.reinitialize()
        return lib


@pytest.fixture
def softhsm_store(tmp_path, monkeypatch, app):
    conf = softhsm.ensure_conf(tmp_path / "softhsm" / "softhsm2.conf")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    monkeypatch.setitem(app.config, "SOFTHSM2_CONF", str(conf))
    return SoftHsm(conf)


@pytest.fixture
def demo_key(db_session, softhsm_store):
    """A customer key on SoftHSM2 with a certificate from the test CA, 30 days from expiry."""
    from wxbackend.demo.service import make_demo_key

    return make_demo_key(organisation="广州某某科技有限公司", expires_in_days=30, email="it@example.cn")


PAGE = object()  # "the origin of the page this helper serves"


@dataclass
class Helper:
    url: str
    port: int
    process: subprocess.Popen
    log_path: Path
    origin: str = PC_ORIGIN

    def get(self, path: str, origin: str | None | object = PAGE, host: str | None = None, **kw):
        headers = kw.pop("headers", {})
        origin = self.origin if origin is PAGE else origin
        if origin is not None:
            headers["Origin"] = origin
        if host is not None:
            headers["Host"] = host
        return requests.get(self.url + path, headers=headers, timeout=10, **kw)

    def request(self, method: str, path: str, origin: str | None | object = PAGE, **kw):
        headers = kw.pop("headers", {})
        origin = self.origin if origin is PAGE else origin
        if origin is not None:
            headers["Origin"] = origin
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kw)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def start_helper(tmp_path, softhsm_store):
    """Start the real helper (`python -m ukey_helper`) on a free port against this test's SoftHSM2 store."""
    started: list[Helper] = []

    def start(**env_overrides) -> Helper:
        port = free_port()
        log_path = tmp_path / f"helper-{port}.log"
        env = {**os.environ, "SOFTHSM2_CONF": str(softhsm_store.conf), "PKCS11_MODULE": PKCS11_MODULE,
               "HELPER_PORT": str(port), "HELPER_ALLOWED_ORIGINS": PC_ORIGIN,
               "HELPER_TICKET_PUBLIC_KEYS": TICKET_PUBLIC_KEY,
               "HELPER_DATA_DIR": str(tmp_path / "helper-data"),  # one per test, kept across its restarts
               **env_overrides}
        process = subprocess.Popen([sys.executable, "-m", "ukey_helper"], cwd=ROOT, env=env,
                                   stdout=log_path.open("w"), stderr=subprocess.STDOUT)
        helper = Helper(url=f"http://127.0.0.1:{port}", port=port, process=process, log_path=log_path,
                        origin=env["HELPER_ALLOWED_ORIGINS"].split(",")[0])
        started.append(helper)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"helper exited: {helper.log()}")
            try:
                if helper.get("/v1/health").status_code == 200:
                    return helper
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"helper did not start: {helper.log()}")

    yield start
    for helper in started:
        helper.process.terminate()
        try:
            helper.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            helper.process.kill()


@pytest.fixture
def helper(demo_key, start_helper):
    """The real helper with the demo key plugged in."""
    return start_helper()


@pytest.fixture
def pc(app, db_session):
    """A PC browser: no cookies, talks to /pc/api."""
    return app.test_client()


@pytest.fixture(scope="session")
def fake_wechatpay_server(tmp_path_factory):
    """The fake WeChat Pay gateway, one for the whole run, with merchant keys made for the run; `.settings` are
    the WECHAT_PAY_* config keys pointing the backend at it (tests reset it through `wechatpay`)."""
    from tests.support.wechatpay import start_fake_wechatpay

    fake = start_fake_wechatpay(tmp_path_factory.mktemp("wechatpay"))
    yield fake
    fake.running.stop()


@pytest.fixture
def wechatpay(fake_wechatpay_server, db_session):
    """The fake WeChat Pay gateway, emptied for this test."""
    from tests.support.wechatpay import FakeWeChatPay

    fake = FakeWeChatPay(fake_wechatpay_server.base_url, fake_wechatpay_server.merchant.public_key_pem)
    fake.reset()
    return fake


# --- invoices and mail (issue 7) -----------------------------------------------------------------------------

EINVOICE_KEY = "test-einvoice-key"


@pytest.fixture(scope="session")
def smtp_sink_server():
    """The SMTP sink (fakes/smtp.py) on 127.0.0.1, one for the whole run."""
    from fakes.smtp import SmtpSink

    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp_sink(smtp_sink_server, app, monkeypatch):
    """The SMTP sink, up and empty, with the app's mail going to it (`.stop()` plays the server being down)."""
    smtp_sink_server.start()
    smtp_sink_server.clear()
    for key, value in smtp_sink_server.settings.items():
        monkeypatch.setitem(app.config, key, value)
    yield smtp_sink_server
    smtp_sink_server.start()


@pytest.fixture
def invoice_files(app, tmp_path, monkeypatch):
    """The file store in a temporary directory (never var/files)."""
    monkeypatch.setitem(app.config, "FILE_STORE_DIR", str(tmp_path / "files"))
    return tmp_path / "files"


@pytest.fixture(scope="session")
def fake_einvoice_server():
    """The fake e-invoice platform (fakes/einvoice.py), one for the whole run."""
    from fakes.einvoice import create_fake_einvoice
    from fakes.server import serve_in_thread

    fake = serve_in_thread(create_fake_einvoice(EINVOICE_KEY))
    yield fake
    fake.stop()


@pytest.fixture
def einvoice(fake_einvoice_server, app, monkeypatch):
    """The app issuing through the `http` adapter against the fake platform, emptied for this test; returns its
    base URL (control endpoints under `_fake/`)."""
    base = fake_einvoice_server.base_url
    requests.post(base + "_fake/reset", timeout=5)
    monkeypatch.setitem(app.config, "INVOICE_ADAPTER", "http")
    monkeypatch.setitem(app.config, "INVOICE_PLATFORM_URL", base)
    monkeypatch.setitem(app.config, "INVOICE_PLATFORM_KEY", EINVOICE_KEY)
    monkeypatch.setitem(app.config, "INVOICE_PLATFORM_TIMEOUT_SECONDS", 5)
    return base

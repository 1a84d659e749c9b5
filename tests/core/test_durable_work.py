"""Nothing lost when a worker or Redis dies (issue 18.1, DESIGN §16), with real processes: `python -m jobs.worker`
as a subprocess against the run's Redis and a PostgreSQL database of this module's own (its rows are committed,
so they stay out of the other tests' database), the SMTP sink and the fake WeChat server on 127.0.0.1.

- the worker SIGKILLed, its work-horse and scheduler too, while the invoice's mail hangs at the SMTP server →
  after a restart and the sweep, the invoice is mailed exactly once;
- Redis flushed with an invoice mail, notices and a bank-line match pending → the sweep hands them over again and
  each happens once;
- SMTP down for longer than the first retry → mailed when it is back: rq's scheduler, run by the worker, really
  runs the retries (no sweep involved)."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from flask import Flask

from fakes.smtp import SmtpSink
from tests.conftest import PG_ADMIN_URL, ROOT, TEST_REDIS_URL, create_database, drop_database
from tests.support.factories import make_user, pending_order
from tests.support.wechat import FakeWeChat
from wxbackend import create_app
from wxbackend.core.db import db
from wxbackend.core.jobs import enqueue_after_commit, sweep_outbox
from wxbackend.core.outbox import OutboxEntry

LEASE_SECONDS = 2
DATA_KEY = base64.b64encode(os.urandom(32)).decode()
ORG = "广州某某科技有限公司"
TAX_NUMBER = "9144030071526726XG"
SECRET_ID = "11010519491231002X"
SECRET_TEXT = f"人工 我的身份证号是{SECRET_ID}"


def as_env(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(part) for part in value)
    return str(value)


@pytest.fixture(scope="module")
def durable(app_config, tmp_path_factory) -> Iterator[dict]:
    """This module's own database (migrated) and the settings that the test and its worker processes share."""
    from flask_migrate import upgrade

    name = f"cagj_durable_{os.getpid()}"
    url = create_database(PG_ADMIN_URL, name)
    base = tmp_path_factory.mktemp("durable")
    settings = {**app_config, "DATABASE_URL": url, "OUTBOX_LEASE_SECONDS": LEASE_SECONDS,
                "DATA_ENCRYPTION_KEY": DATA_KEY, "FILE_STORE_DIR": str(base / "files"), "INVOICE_ADAPTER": "local",
                "CA_DIR": str(base / "ca")}
    app = create_app(settings)
    with app.app_context():
        upgrade()
    yield {"settings": settings, "app": app, "base": base}
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    drop_database(PG_ADMIN_URL, name)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.release()
    sink.stop()


@pytest.fixture
def world(durable, sink, fake_wechat_server) -> Iterator[World]:
    """A clean slate for one test: the run's Redis emptied, no outbox rows, the fake WeChat emptied, this test's
    SMTP sink; `start_worker()` starts a real worker process."""
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    wechat = FakeWeChat(fake_wechat_server.base_url)
    wechat.reset()
    world = World(durable["app"], {**durable["settings"], **sink.settings}, sink, wechat, durable["base"])
    with world.context():
        db.session.execute(sa.delete(OutboxEntry))
        db.session.commit()
    yield world
    world.stop_workers()
    wechat.reset()


class World:
    def __init__(self, app: Flask, settings: dict, sink: SmtpSink, wechat: FakeWeChat, base: Path):
        self.app, self.settings, self.sink, self.wechat, self.base = app, settings, sink, wechat, base
        self.workers: list[subprocess.Popen] = []
        for key, value in sink.settings.items():
            app.config[key] = value

    def context(self):
        return self.app.app_context()

    def start_worker(self) -> subprocess.Popen:
        env = {**os.environ, **{key: as_env(value) for key, value in self.settings.items()},
               "FLASK_APP": "wxbackend:create_app"}
        log = (self.base / f"worker-{len(self.workers)}-{time.time_ns()}.log").open("w")
        worker = subprocess.Popen([sys.executable, "-m", "jobs.worker"], cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        worker.log_path = log.name  # type: ignore[attr-defined]
        self.workers.append(worker)
        return worker

    def kill(self, worker: subprocess.Popen) -> None:
        """SIGKILL the worker and everything it forked (rq's work-horse runs in a session of its own)."""
        for pid in [*descendants(worker.pid), worker.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        worker.wait(timeout=10)

    def stop_workers(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                self.kill(worker)

    def worker_log(self) -> str:
        return "\n".join(Path(w.log_path).read_text(errors="replace") for w in self.workers)  # type: ignore

    def rows(self) -> list[OutboxEntry]:
        with self.context():
            rows = list(db.session.scalars(sa.select(OutboxEntry).order_by(OutboxEntry.id)))
            db.session.expunge_all()
            db.session.remove()
            return rows

    def sweep(self) -> int:
        with self.context():
            try:
                return sweep_outbox()
            finally:
                db.session.remove()

    def scalar(self, statement):
        with self.context():
            try:
                return db.session.scalar(statement)
            finally:
                db.session.remove()


def redis_dump() -> bytes:
    """Every key and value of the run's Redis database, as one blob (what a thief of the Redis dump reads)."""
    from tests.core.test_outbox import redis_bytes

    with redis.Redis.from_url(TEST_REDIS_URL) as connection:
        return redis_bytes(connection)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def wait_for(condition: Callable[[], object], seconds: float, what: str, world: World, every: float = 0.5,
             between: Callable[[], object] | None = None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if between is not None:
            between()
        time.sleep(every)
    raise AssertionError(f"{what} within {seconds} s; worker log:\n{world.worker_log()[-4000:]}")


def request_invoice(world: World) -> int:
    """A paid order and its invoice request, committed: the issue job is recorded (and handed to rq)."""
    from wxbackend.invoices import service
    from wxbackend.invoices.service import ProfileInput
    from wxbackend.orders.service import mark_paid

    with world.context():
        user = make_user()
        order = pending_order(1, ORG, user)
        mark_paid(order.id, "wechat", "test")
        profile = service.create_profile(user.id, ProfileInput(
            title=ORG, title_type="enterprise", tax_number=TAX_NUMBER, email="finance@example.cn", bank_name="",
            bank_account="", address="", phone="", mobile=""))
        invoice = service.request_invoice(user.id, [order.id], profile_id=profile.id)
        db.session.commit()
        invoice_id = invoice.id
        db.session.remove()
    return invoice_id


def mails_for(world: World, invoice_id: int) -> int:
    from wxbackend.invoices.models import Invoice

    number = world.scalar(sa.select(Invoice.invoice_no).where(Invoice.id == invoice_id))
    return sum(1 for m in world.sink.messages if number and number in str(m.message["Subject"]))


def emailed(world: World, invoice_id: int) -> bool:
    from wxbackend.invoices.models import Invoice

    return world.scalar(sa.select(Invoice.emailed_at).where(Invoice.id == invoice_id)) is not None


def test_worker_killed_while_mailing_an_invoice_mails_it_once_after_a_restart(world):
    world.sink.hold()  # the mail server hangs on DATA
    invoice_id = request_invoice(world)
    first = world.start_worker()
    assert world.sink.held.wait(90), world.worker_log()  # issued, and now mailing
    world.kill(first)
    world.sink.release()  # the server answers again; the killed attempt's mail was never accepted
    assert world.sink.messages == []
    [mail_row] = [row for row in world.rows() if row.job == "invoices.email_invoice"]
    assert mail_row.done_at is None  # the kill left it due

    world.start_worker()
    wait_for(lambda: emailed(world, invoice_id), 60, "the invoice mailed after the restart", world,
             between=world.sweep)  # the cron sweep, every minute in production
    time.sleep(LEASE_SECONDS + 2)
    world.sweep()
    time.sleep(2)
    assert mails_for(world, invoice_id) == 1 and len(world.sink.messages) == 1
    assert all(row.done_at is not None for row in world.rows() if row.job.startswith("invoices."))
    assert "finance@example.cn" not in world.worker_log()


def test_redis_flushed_with_work_pending_each_piece_still_happens_once(world):
    from wxbackend.invoices import issuing
    from wxbackend.notices.service import queue_notice
    from wxbackend.orders.models import Order
    from wxbackend.payments.bank_models import BankStatementLine
    from wxbackend.payments.transfer import choose_transfer, import_statement, queue_matching
    from wxbackend.support.models import SupportMessage

    invoice_id = request_invoice(world)
    with world.context():  # issued by hand, so that its mail (and notice) is what is pending
        assert issuing.issue(invoice_id) == "issued"
        db.session.commit()
        user = make_user("李四")
        queue_notice(user.id, "audit_result", {"order_no": "R-TEST-1", "result": "通过"})
        order = pending_order(1, ORG, user)
        order = choose_transfer(user.id, order.id)
        amount = f"{order.amount_fen // 100}.{order.amount_fen % 100:02d}"
        data = ("流水号,交易日期,金额,付款人户名,付款人账号,附言\n"
                f"T{time.time_ns()},2025-03-04,{amount},{ORG},4405 0101 2345 6789 0123,{order.transfer_code}\n")
        result = import_statement(data.encode(), "statement.csv")
        queue_matching(result.new_line_ids)
        enqueue_after_commit("wechat.hand_over_to_staff", user.openid, SECRET_TEXT, f"msg:{time.time_ns()}",
                             int(time.time()))
        db.session.commit()
        order_id, openid, [line_id] = order.id, user.openid, result.new_line_ids
        db.session.remove()
    pending = {row.job for row in world.rows() if row.done_at is None}
    assert {"invoices.email_invoice", "notices.send_notice", "payments.match_statement_lines",
            "wechat.hand_over_to_staff"} <= pending
    assert SECRET_ID.encode() not in redis_dump()  # rq holds only outbox ids

    redis.Redis.from_url(TEST_REDIS_URL).flushdb()  # Redis lost every queued job
    world.start_worker()
    time.sleep(3)
    assert world.sink.messages == [] and world.wechat.messages() == []  # nothing left in rq to run

    def all_done() -> bool:
        return all(row.done_at is not None for row in world.rows())

    wait_for(all_done, 90, "every pending piece of work done", world, between=world.sweep)
    world.sweep()
    world.sweep()  # sweeps after the work is done hand nothing over again
    time.sleep(3)
    assert mails_for(world, invoice_id) == 1 and len(world.sink.messages) == 1
    assert world.scalar(sa.select(BankStatementLine.status).where(BankStatementLine.id == line_id)) == "matched"
    assert world.scalar(sa.select(Order.status).where(Order.id == order_id)) == "ready_to_write"  # paid, online path
    notices = [(m.get("touser"), m.get("template_id")) for m in world.wechat.messages()]
    assert len(notices) == len(set(notices))  # no notice twice
    to_li = [template for touser, template in notices if touser == openid]
    assert {"TPL-audit_result", "TPL-payment_received"} <= set(to_li), notices
    assert len([row for row in world.rows() if row.job == "notices.send_notice"]) == len(notices)
    stored = world.scalar(sa.select(sa.func.count()).select_from(SupportMessage)
                          .where(SupportMessage.content.contains(SECRET_ID)))
    assert stored == 1  # the follower's message reached the 人工客服 queue once
    assert SECRET_ID not in world.worker_log() and SECRET_ID.encode() not in redis_dump()


def test_smtp_down_longer_than_the_first_retry_is_mailed_when_it_is_back(world):
    world.sink.stop()  # the mail server is down
    invoice_id = request_invoice(world)
    world.start_worker()

    def failed(times: int) -> Callable[[], bool]:
        return lambda: any(row.job == "invoices.email_invoice" and row.attempts >= times for row in world.rows())

    wait_for(failed(1), 60, "the first mail attempt failing", world)
    # still down when the first retry (30 s later) comes: rq's scheduler runs it, and it fails too
    wait_for(failed(2), 60, "the first retry run by the scheduler", world)
    assert world.sink.messages == [] and not emailed(world, invoice_id)
    world.sink.start()  # back; the second retry is 60 s after the first
    wait_for(lambda: emailed(world, invoice_id), 100, "the invoice mailed by the next retry", world)
    assert mails_for(world, invoice_id) == 1
    [row] = [row for row in world.rows() if row.job == "invoices.email_invoice"]
    assert row.done_at is not None and row.attempts == 2 and row.last_error == ""

"""The system at a provincial CA's scale: PostgreSQL seeded with a million certificates, a million orders with three
million order events, 1.5 million bindings and half a million users (COPY through psycopg, not the ORM), then:

- pages: server time (the Flask app through its test client: the same stack as production minus the socket) of
  我的数字证书, 证书详情, 我的受理单, 受理单详情, 待办事项 and their /api twins for a user with 20 certificates and
  100 orders, and the console's 受理单查询; p50/p99 beside a one-row primary-key SELECT through the same stack;
- explain: the query plans of every statement those pages ran, with the indexes they use;
- scan: the daily expiry-reminder scan (`wxbackend.reminders.service.scan`, when that module exists) over every
  certificate, in a child process, with its peak RSS, beside a raw SQL count of the same rows;
- matching: bank statement matching of 100,000 lines beside a dict match of the same lines in memory;
- binding: issuing and claiming binding codes with 100,000 live codes in Redis, beside a bare Redis SET/GET.

    .venv/bin/python bench/scale.py                       # the full size (seeding takes a few minutes)
    .venv/bin/python bench/scale.py --certificates 20000  # everything else scaled down with it: quick
    .venv/bin/python bench/scale.py --reuse --only pages,explain   # measure again on the seeded database

Uses its own database (`cagj_bench`, dropped and created again unless --reuse) on the test server
(TEST_PG_ADMIN_URL, default postgres@127.0.0.1) and Redis database 13 (BENCH_REDIS_URL), which it empties.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import redis
import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("BENCH_DB_NAME", "cagj_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
DB_URL = make_url(ADMIN_URL).set(database=DB_NAME).render_as_string(hide_password=False)
PG_URL = make_url(DB_URL).set(drivername="postgresql").render_as_string(hide_password=False)  # plain psycopg
NOW = datetime.now(UTC).replace(microsecond=0)
TARGET_USER = 1  # the user with 20 certificates and 100 orders
TARGET_CERTIFICATES = 20
TARGET_ORDERS = 100
BENCH_KEY = "YmVuY2gtb25seS1rZXktMzItYnl0ZXMtbG9uZy4uLi4="  # base64 of 32 bytes: nothing of var/ is touched
SECTIONS = ("pages", "explain", "scan", "matching", "binding")


class Sizes:
    """How many rows of each; by default scaled with --certificates from a CA's million."""

    def __init__(self, args):
        scale = args.certificates / 1_000_000
        self.certificates = args.certificates
        self.users = args.users or max(int(500_000 * scale), 1_000)
        self.bindings = args.bindings or max(int(1_500_000 * scale), 2_000)
        self.orders = args.orders or max(int(1_000_000 * scale), 1_000)
        self.events_per_order = 3
        self.lines = args.lines or min(100_000, max(int(100_000 * scale * 5), 2_000))
        self.codes = args.codes or min(100_000, max(int(100_000 * scale * 5), 2_000))
        if self.orders - TARGET_ORDERS > self.certificates - TARGET_CERTIFICATES:
            raise SystemExit("at most one order per certificate besides the target user's: --orders too large")

    def __str__(self):
        return (f"{self.certificates:,} certificates, {self.users:,} users, {self.bindings:,} bindings, "
                f"{self.orders:,} orders, {self.orders * self.events_per_order:,} order events; "
                f"{self.lines:,} statement lines, {self.codes:,} live binding codes")


# ------------------------------------------------------------------------------------------------ seeding


def sample_pem() -> str:
    """One real certificate PEM (a throwaway self-signed one) for every seeded row: the table is as wide as
    production's, and a page that parses it gets a valid certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "广州某某科技有限公司"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "广州某某科技有限公司")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=365)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def ts(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def copy_rows(conn: psycopg.Connection, table: str, columns: tuple[str, ...], rows, chunk: int = 20_000) -> int:
    """COPY `rows` (tuples of text values, already escaped for COPY's text format) into `table`."""
    count = 0
    with conn.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for row in rows:
                buffer.write("\t".join(row))
                buffer.write("\n")
                count += 1
                if count % chunk == 0:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
    return count


ORGS = ("科技", "贸易", "建设工程", "医药", "物流", "教育咨询", "环保", "电子商务", "食品", "机械制造")
CITIES = (("广州市", "广东省"), ("深圳市", "广东省"), ("佛山市", "广东省"), ("东莞市", "广东省"), ("珠海市", "广东省"))


def organisation(i: int) -> str:
    return f"{CITIES[i % 5][0][:2]}{i:07d}{ORGS[i % 10]}有限公司"


def certificate_rows(sizes: Sizes, pem: str):
    pem_text = pem.replace("\n", "\\n")
    span = 4 * 365 * 86400  # not_after spread from a year ago to three years ahead
    for cid in range(1, sizes.certificates + 1):
        not_after = NOW - timedelta(days=365) + timedelta(seconds=(cid * 7919 * 97) % span)
        status = "valid" if not_after > NOW else "expired"
        if cid % 50 == 0:
            status = "superseded"
        elif cid % 997 == 0:
            status = "revoked"
        if cid <= TARGET_CERTIFICATES:
            status = "valid"
            not_after = NOW + timedelta(days=10 + cid * 20)  # some in the renewal window: 待办 has work
        city, province = CITIES[cid % 5]
        org = organisation(cid)
        yield (str(cid), f"{cid:016X}", org, org, city, province, f"ca{cid}@example.com", "张三",
               f"91440101{cid:010d}", "org_sign", ts(not_after - timedelta(days=365 * 2)), ts(not_after),
               f"SAKEY{cid:010d}", pem_text, status, "\\N", ts(not_after - timedelta(days=365 * 2)))


CERT_COLUMNS = ("id", "serial", "subject_o", "subject_cn", "subject_l", "subject_st", "email", "legal_representative",
                "credit_code", "cert_type", "not_before", "not_after", "medium_number", "pem", "status", "previous_id",
                "created_at")


def user_rows(sizes: Sizes):
    for uid in range(1, sizes.users + 1):
        yield (str(uid), f"oBENCH{uid:012d}", "\\N", "\\N", "", "t" if uid % 3 else "f", "t",
               ts(NOW - timedelta(days=uid % 1000)))


USER_COLUMNS = ("id", "openid", "mp_openid", "unionid", "nickname", "identity_verified", "following", "created_at")


def binding_rows(sizes: Sizes):
    bid = 0
    for cid in range(1, TARGET_CERTIFICATES + 1):
        bid += 1
        yield (str(bid), str(TARGET_USER), str(cid), "active", ts(NOW - timedelta(days=cid)), "\\N")
    others_users = sizes.users - 1
    others_certs = sizes.certificates - TARGET_CERTIFICATES
    for i in range(sizes.bindings - TARGET_CERTIFICATES):
        bid += 1
        user_id = 2 + i % others_users
        certificate_id = TARGET_CERTIFICATES + 1 + (i * 7) % others_certs
        unbound = i % 10 == 9
        yield (str(bid), str(user_id), str(certificate_id), "unbound" if unbound else "active",
               ts(NOW - timedelta(days=1 + i % 1000)), ts(NOW - timedelta(hours=i % 500)) if unbound else "\\N")


BINDING_COLUMNS = ("id", "user_id", "certificate_id", "status", "created_at", "unbound_at")
ORDER_COLUMNS = ("id", "order_no", "user_id", "certificate_id", "kind", "path", "years", "amount_fen", "fee_detail",
                 "status", "old_not_after", "new_not_after", "pay_channel", "transfer_code", "created_at", "paid_at")
EVENT_COLUMNS = ("id", "order_id", "from_status", "to_status", "actor", "note", "at")
# the order statuses of the seed, by order number modulo 100 (closed ones mostly, as in a CA's history)
OPEN_STATUSES = {0: "pending_payment", 1: "pending_payment", 2: "ready_to_write", 3: "cancelled", 4: "cancelled"}


def order_plan(sizes: Sizes):
    """(order id, user, certificate, status, created_at, transfer_code) for every order: the target user's 100 on
    its 20 certificates (one open order at most per certificate), the others one per certificate, oldest first."""
    span = 3 * 365 * 86400
    oid = 0
    others = sizes.orders - TARGET_ORDERS
    for i in range(others):
        oid += 1
        status = OPEN_STATUSES.get(i % 100, "completed")
        code = f"{100000 + i // 50 * 2 + (i % 100 == 1)}" if status == "pending_payment" else None
        created = NOW - timedelta(seconds=span - (i * span) // max(others, 1))
        yield (oid, 2 + i % (sizes.users - 1), TARGET_CERTIFICATES + 1 + i % (sizes.certificates - TARGET_CERTIFICATES),
               status, created, code)
    for i in range(TARGET_ORDERS):
        oid += 1
        certificate_id = 1 + i % TARGET_CERTIFICATES
        last_round = i >= TARGET_ORDERS - TARGET_CERTIFICATES
        status = ("pending_payment" if certificate_id % 4 == 0 else "ready_to_write" if certificate_id % 7 == 0
                  else "completed") if last_round else "completed"
        code = f"{999999 - i}" if status == "pending_payment" else None  # above the others' codes: no collision
        yield (oid, TARGET_USER, certificate_id, status, NOW - timedelta(days=(TARGET_ORDERS - i) * 7), code)


def order_rows(sizes: Sizes):
    for oid, user_id, certificate_id, status, created, code in order_plan(sizes):
        paid = status not in ("pending_payment", "cancelled")
        yield (str(oid), f"R{created:%Y%m%d}{oid:09d}", str(user_id), str(certificate_id), "renewal", "online", "1",
               "30000", "证书续期 300.00元/年 × 1年", status, ts(created + timedelta(days=30)),
               ts(created + timedelta(days=395)), "transfer" if code or paid else "\\N", code or "\\N", ts(created),
               ts(created + timedelta(hours=2)) if paid else "\\N")


def event_rows(sizes: Sizes):
    eid = 0
    for oid, _user, _cert, status, created, _code in order_plan(sizes):
        steps = [(None, "pending_payment", "user", "已创建受理单，待支付")]
        if status == "cancelled":
            steps.append(("pending_payment", "cancelled", "user", "用户撤销"))
        elif status != "pending_payment":
            steps.append(("pending_payment", "paid", "bank", "对公转账到账"))
            steps.append(("paid", "ready_to_write", "system", "在线续期无需审核，待写入新证书"))
            if status == "completed":
                steps[-1] = ("paid", "completed", "system", "新证书已写入介质，续期完成")
        while len(steps) < 3:
            steps.insert(1, ("pending_payment", "pending_payment", "system", "已发送缴费提醒"))
        for n, (before, after, actor, note) in enumerate(steps[:3]):
            eid += 1
            yield (str(eid), str(oid), before or "\\N", after, actor, note, ts(created + timedelta(minutes=n * 30)))


def create_database() -> None:
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{DB_NAME}"'))
    admin.dispose()


def database_exists() -> bool:
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        found = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": DB_NAME}).first()
    admin.dispose()
    return found is not None


def make_app(ca_dir: Path):
    from wxbackend import create_app

    return create_app({"APP_ENV": "development", "DATABASE_URL": DB_URL, "REDIS_URL": REDIS_URL,
                       "CA_DIR": str(ca_dir), "NOTICES_ADAPTER": "log", "LOG_LEVEL": "WARNING",
                       "SECRET_KEY": "bench-secret-key-bench-secret-key", "DEV_SIGN_IN": False,
                       "DATA_ENCRYPTION_KEY": BENCH_KEY, "TICKET_SIGNING_KEY": BENCH_KEY})


def seed(sizes: Sizes, ca_dir: Path) -> None:
    from flask_migrate import upgrade

    started = time.perf_counter()
    create_database()
    app = make_app(ca_dir)
    with app.app_context():
        upgrade()
    print(f"schema (alembic upgrade): {time.perf_counter() - started:.1f} s")
    pem = sample_pem()
    tables = [("users", USER_COLUMNS, user_rows(sizes)), ("certificates", CERT_COLUMNS, certificate_rows(sizes, pem)),
              ("bindings", BINDING_COLUMNS, binding_rows(sizes)), ("orders", ORDER_COLUMNS, order_rows(sizes)),
              ("order_events", EVENT_COLUMNS, event_rows(sizes))]
    with psycopg.connect(PG_URL, autocommit=False) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '256MB'")
        for table, columns, rows in tables:
            t0 = time.perf_counter()
            # A bulk load builds its indexes once at the end, not row by row: the migrations' own index
            # definitions (constraints — primary keys, unique columns — stay) are dropped and made again.
            indexes = conn.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' AND i.tablename = %s"
                " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)", (table,)).fetchall()
            for name, _definition in indexes:
                conn.execute(f'DROP INDEX "{name}"')
            count = copy_rows(conn, table, columns, rows)
            loaded = time.perf_counter() - t0
            for _name, definition in indexes:
                conn.execute(definition)
            conn.commit()
            print(f"  {table:<14} {count:>10,} rows  {loaded:6.1f} s COPY, {time.perf_counter() - t0 - loaded:5.1f} s "
                  f"for its {len(indexes)} indexes")
        for table, _columns, _rows in tables:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        t0 = time.perf_counter()
        conn.execute("VACUUM (ANALYZE)")
        print(f"  vacuum analyze            {time.perf_counter() - t0:6.1f} s")
    print(f"seeded in {time.perf_counter() - started:.1f} s: {sizes}")


# ------------------------------------------------------------------------------------------------ measuring


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def timed(fn, n: int, warm: int = 10) -> list[float]:
    """Milliseconds of `n` calls of `fn` after `warm` untimed ones."""
    for _ in range(warm):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pad(text: str, width: int) -> str:
    """`text` left-aligned in `width` terminal columns (a Chinese character takes two)."""
    import unicodedata

    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - used, 0)


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} on {os.cpu_count()} CPUs"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


PK_PATH = "/_bench/pk/<int:user_id>"


def add_pk_route(app) -> None:
    """The baseline: a one-row primary-key SELECT through the same stack (routing, session, ORM, response)."""
    from wxbackend.core.db import db
    from wxbackend.users.models import User

    def pk(user_id: int):
        return db.session.get(User, user_id).openid

    app.add_url_rule(PK_PATH, "bench_pk", pk)


def target_pages(app) -> list[tuple[str, str, str]]:
    """(name, path, client kind) of every measured page; ids of the target user's rows."""
    from wxbackend.core.db import db

    with app.app_context():
        certificate_id = db.session.execute(sa.text("SELECT min(certificate_id) FROM bindings WHERE user_id = :u"),
                                            {"u": TARGET_USER}).scalar()
        order_id = db.session.execute(sa.text("SELECT max(id) FROM orders WHERE user_id = :u"),
                                      {"u": TARGET_USER}).scalar()
        organisation_part = organisation(123_457)[2:9]  # a substring of one organisation's name
        order_no = db.session.execute(sa.text("SELECT order_no FROM orders WHERE id = 4242")).scalar() or ""
    return [
        ("我的数字证书", "/h5/certificates", "h5"),
        ("证书详情", f"/h5/certificates/{certificate_id}", "h5"),
        ("我的受理单", "/h5/orders", "h5"),
        ("受理单详情", f"/h5/orders/{order_id}", "h5"),
        ("待办事项", "/h5/todo", "h5"),
        ("api 我的数字证书", "/api/certificates", "api"),
        ("api 证书详情", f"/api/certificates/{certificate_id}", "api"),
        ("api 我的受理单", "/api/orders", "api"),
        ("api 受理单详情", f"/api/orders/{order_id}", "api"),
        ("api 待办事项", "/api/todo", "api"),
        ("受理单查询 (newest)", "/admin/orders", "staff"),
        ("受理单查询 status", "/admin/orders?status=pending_payment", "staff"),
        ("受理单查询 organisation", f"/admin/orders?organisation={organisation_part}", "staff"),
        ("受理单查询 受理单号", f"/admin/orders?order_no={order_no}", "staff"),
        ("受理单查询 page 2", "/admin/orders?status=completed&after=", "staff"),
    ]


def clients(app) -> dict:
    """A signed-in phone (session cookie), a mini-program (bearer token) and a signed-in 审核员."""
    from tests.support.staff import make_staff, sign_in_staff
    from wxbackend.core.db import db
    from wxbackend.staff.models import Role
    from wxbackend.web.auth import issue_api_token

    h5 = app.test_client()
    with h5.session_transaction() as session:
        session["user_id"] = TARGET_USER
        session.permanent = True
    staff_client = app.test_client()
    with app.app_context():
        token, _ = issue_api_token(TARGET_USER)
        db.session.execute(sa.text("DELETE FROM staff_members WHERE username = 'bench_auditor'"))
        staff = make_staff("bench_auditor", Role.AUDITOR)
        sign_in_staff(staff_client, staff)
    return {"h5": (h5, {}), "api": (app.test_client(), {"Authorization": f"Bearer {token}"}),
            "staff": (staff_client, {}), "plain": (app.test_client(), {})}


def second_page_path(app, path: str, client, headers) -> str:
    """`…&after=` completed with the cursor of the first page's next link."""
    if not path.endswith("after="):
        return path
    first = client.get(path.removesuffix("&after="), headers=headers).text
    marker = "after="
    found = first.split(marker, 1)
    if len(found) < 2:
        return path.removesuffix("&after=")
    return path + found[1].split('"', 1)[0].split("&", 1)[0]


def bench_pages(app, sizes: Sizes, args) -> None:
    add_pk_route(app)
    by_kind = clients(app)
    plain, _ = by_kind["plain"]
    pk = [statistics.median(timed(lambda: plain.get(f"/_bench/pk/{TARGET_USER + 17}"), args.requests))
          for _ in range(3)]
    pk_times = timed(lambda: plain.get(f"/_bench/pk/{TARGET_USER + 17}"), args.requests * 3)
    pk_p50, pk_p99 = pct(pk_times, 50), pct(pk_times, 99)
    print(f"\n== pages: {args.requests} requests each, ms (server time through the Flask test client), {sizes}; "
          f"{load_note()}")
    print(f"{pad('page', 28)}{'p50':>8}{'p99':>8}{'p99/pk p99':>12}{'queries':>9}  status")
    print(f"{pad('pk SELECT (baseline)', 28)}{pk_p50:>8.2f}{pk_p99:>8.2f}{1:>12.1f}{1:>9}  200")
    app.extensions["bench_page_paths"] = []
    from wxbackend.core.db import db

    with app.app_context():
        engine = db.engine
    statements = {"n": 0}

    def count(*_args):
        statements["n"] += 1

    for name, path, kind in target_pages(app):
        client, headers = by_kind[kind]
        path = second_page_path(app, path, client, headers)
        app.extensions["bench_page_paths"].append((name, path, kind))
        statements["n"] = 0
        sa.event.listen(engine, "before_cursor_execute", count)
        status = client.get(path, headers=headers).status_code
        sa.event.remove(engine, "before_cursor_execute", count)
        runs = [timed(lambda c=client, p=path, h=headers: c.get(p, headers=h), args.requests, warm=5)
                for _ in range(3)]
        p50 = statistics.median(pct(run, 50) for run in runs)
        p99 = statistics.median(pct(run, 99) for run in runs)
        flag = "" if p99 <= 50 else "  OVER 50 ms"
        print(f"{pad(name, 28)}{p50:>8.2f}{p99:>8.2f}{p99 / pk_p99:>12.1f}{statements['n']:>9}  {status}{flag}")
    print(f"(pk SELECT medians of three runs: {', '.join(f'{v:.2f}' for v in pk)} ms; target: every page p99 ≤ 50 ms)")


def bench_explain(app, sizes: Sizes, args) -> None:
    """The plan of every SELECT the measured pages ran, with the indexes it used."""
    from wxbackend.core.db import db

    by_kind = clients(app)
    paths = app.extensions.get("bench_page_paths") or target_pages(app)
    with app.app_context():
        engine = db.engine
    captured: list[tuple[str, str, object]] = []
    current = {"page": ""}

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((current["page"], statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        for name, path, kind in paths:
            client, headers = by_kind[kind]
            current["page"] = name
            client.get(path, headers=headers)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    print(f"\n== explain: the SELECTs of the pages above, EXPLAIN (ANALYZE, BUFFERS) on {sizes}")
    with engine.connect() as conn:
        explain_all(conn, captured)


def explain_all(conn, captured: list[tuple[str, str, object]], rollback: bool = True) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) each distinct captured SELECT with its parameters, naming the indexes it used;
    `rollback=False` inside a transaction that must go on (the plans of SELECTs change nothing)."""
    import re

    seen: set[str] = set()
    for page, statement, parameters in captured:
        key = " ".join(statement.split())
        if key in seen or "FROM staff_" in key:
            continue
        seen.add(key)
        plan = [row[0] for row in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)]
        if rollback:
            conn.rollback()
        text = "\n".join(plan)
        indexes = sorted(set(re.findall(r"(?:Index(?: Only)? Scan(?: Backward)? using|Bitmap Index Scan on) (\w+)",
                                        text)))
        seq = sorted(set(re.findall(r"Seq Scan on (\w+)", text)))
        total = next((line for line in plan if line.startswith("Execution Time")), "")
        print(f"\n-- [{page}] {key[:300]}{'…' if len(key) > 300 else ''}")
        print(f"   indexes: {', '.join(indexes) or '—'}; seq scans: {', '.join(seq) or '—'}; {total}")
        for line in plan:
            if not line.startswith(("Planning", "Execution")):
                print("   " + line)


def child_scan(ca_dir: Path) -> None:
    """In a process of its own (its peak RSS is the scan's): the reminder scan once, as JSON on stdout."""
    import importlib

    try:
        reminders = importlib.import_module("wxbackend.reminders.service")
    except ImportError:
        print(json.dumps({"available": False}))
        return
    app = make_app(ca_dir)
    with app.app_context():
        from wxbackend.core.db import db

        db.session.execute(sa.text("SELECT 1"))  # connected before the baseline RSS is read
        before = peak_rss_mb()
        t0 = time.perf_counter()
        result = reminders.scan(datetime.now(UTC).date())
        elapsed = time.perf_counter() - t0
        db.session.rollback()  # a bench run sends nothing
    print(json.dumps({"available": True, "seconds": elapsed, "result": result if isinstance(result, int) else str(
        result), "rss_before_mb": before, "rss_peak_mb": peak_rss_mb()}))


def bench_scan(app, sizes: Sizes, args) -> None:
    """The daily expiry-reminder scan over every certificate, beside a raw SQL count of the same rows."""
    print(f"\n== reminder scan over {sizes.certificates:,} certificates")
    runs = []
    for _ in range(3):
        done = subprocess.run([sys.executable, __file__, "--child-scan"], capture_output=True, text=True,
                              cwd=ROOT, timeout=900)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            print(f"reminder scan failed: {done.stderr[-2000:]}")
            return
        runs.append(json.loads(lines[-1]))
        if not runs[-1]["available"]:
            print("reminder scan: not available (wxbackend.reminders.service is not in this checkout)")
            return
    counts = []
    with psycopg.connect(PG_URL) as conn:
        for _ in range(3):
            t0 = time.perf_counter()
            total = conn.execute("SELECT count(*) FROM certificates WHERE status IN ('valid', 'expired')").fetchone()
            counts.append(time.perf_counter() - t0)
    scan = statistics.median(run["seconds"] for run in runs)
    count = statistics.median(counts)
    print(f"scan: median {scan:.2f} s of {[round(run['seconds'], 2) for run in runs]}, result {runs[0]['result']}; "
          f"RSS {runs[0]['rss_before_mb']:.0f} MB before, peak {statistics.median(r['rss_peak_mb'] for r in runs):.0f}"
          f" MB (target ≤ 60 s, flat memory)")
    print(f"raw SQL count of the certificates in use ({total[0]:,}): median {count * 1000:.0f} ms; "
          f"ratio scan / count {scan / count:.1f}")


def bench_binding(app, sizes: Sizes, args) -> None:
    """Issuing a code (the key's signature checked, a code picked unused among the live ones) and claiming it
    from the phone, with `sizes.codes` live codes in Redis; beside a bare Redis SET and GET."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.x509.oid import NameOID

    from wxbackend.binding import service as binding
    from wxbackend.binding.service import SESSION_TTL, _code_key
    from wxbackend.core.db import db
    from wxbackend.tickets.service import issue_ticket

    r = redis.Redis.from_url(REDIS_URL)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "广州绑定测试有限公司")])
    pem = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
           .serial_number(x509.random_serial_number()).not_valid_before(NOW - timedelta(days=1))
           .not_valid_after(NOW + timedelta(days=365)).sign(key, hashes.SHA256())
           .public_bytes(serialization.Encoding.PEM).decode())
    with app.test_request_context():
        db.session.execute(sa.text("UPDATE certificates SET pem = :pem, status = 'valid' WHERE id = 777"),
                           {"pem": pem})
        db.session.commit()
        medium = db.session.execute(sa.text("SELECT medium_number FROM certificates WHERE id = 777")).scalar()
        pipe = r.pipeline(transaction=False)  # the live codes: other offices' PCs waiting for a phone
        for n in range(sizes.codes):
            session_id = f"live{n}"
            pipe.set(_code_key(f"{(n * 7919) % 10**8:08d}"), session_id, ex=SESSION_TTL)
            pipe.hset(binding._session_key(session_id), mapping={"certificate_id": 1, "last4": "0000",
                                                                  "state": "waiting", "failures": 0})
            pipe.expire(binding._session_key(session_id), SESSION_TTL)
            if n % 5000 == 4999:
                pipe.execute()
        pipe.execute()
    issue_ms, claim_ms, counter = [], [], {"n": 0}

    def one_round() -> tuple[float, float]:
        counter["n"] += 1
        user_id = 1000 + counter["n"]  # a different phone each time: the per-user budgets stay open
        n = counter["n"]
        address = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
            ticket = issue_ticket("sign", token_serial=medium, cert_serial="", context={"certificate_id": 777})
            signature = base64_sign(key, ticket.challenge, padding, hashes)  # what the key does on the PC
            t0 = time.perf_counter()
            opened = binding.open_binding_session(ticket.ticket_id, signature, "10.0.0.1")
            db.session.commit()
            t1 = time.perf_counter()
            binding.claim_by_code(user_id, opened.code, opened.medium_last4, "10.0.0.2")
            db.session.commit()
            t2 = time.perf_counter()
        return (t1 - t0) * 1000, (t2 - t1) * 1000

    for _ in range(10):
        one_round()
    for _ in range(max(args.requests, 200)):
        issue, claim = one_round()
        issue_ms.append(issue)
        claim_ms.append(claim)
    bare_set = timed(lambda: r.set(f"bench:{secrets.token_hex(4)}", "x", ex=60), 1000)
    bare_get = timed(lambda: r.get("bench:none"), 1000)

    def audited_commit():  # the floor of anything audited: one audit row committed (the WAL flushed)
        from wxbackend.audit.service import record_audit

        with app.test_request_context():
            record_audit("bench", "bench.floor", target="bench")
            db.session.commit()

    floor = timed(audited_commit, 300)
    print(f"\n== binding codes with {r.dbsize():,} keys in Redis ({sizes.codes:,} live codes), ms; {load_note()}")
    print(f"{'operation':<22}{'p50':>8}{'p99':>8}")
    for label, values in (("issue a code", issue_ms), ("claim it", claim_ms), ("bare Redis SET", bare_set),
                          ("bare Redis GET", bare_get), ("audit row + COMMIT", floor)):
        print(f"{label:<22}{pct(values, 50):>8.2f}{pct(values, 99):>8.2f}")
    print(f"ratio p99 issue / SET {pct(issue_ms, 99) / pct(bare_set, 99):.1f}, claim / GET "
          f"{pct(claim_ms, 99) / pct(bare_get, 99):.1f} (target: p99 ≤ 10 ms each)")


def base64_sign(key, data: bytes, padding, hashes) -> str:
    import base64

    return base64.b64encode(key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode()


def statement_lines(pending: list[tuple], count: int) -> list[tuple[str, int, str, str]]:
    """(remark, amount_fen, payer_name, bank_txn_id) of a statement: a fifth pay open orders exactly (full-width
    digits and spaces as banks write them), the rest are what a receiving account also gets — wrong amounts,
    codes of no open order, remarks that are not codes, other payers."""
    out = []
    for n in range(count):
        kind = n % 5
        if kind == 0 and pending:
            _order_id, code, amount, org = pending[(n // 5) % len(pending)]
            remark = code if n % 2 else "".join(chr(ord(d) + 0xFEE0) for d in code)  # ０１２… from some banks
            out.append((remark, amount, org.replace("有限公司", " 有限公司"), f"B{n:012d}"))
        elif kind == 1 and pending:
            _order_id, code, amount, org = pending[(n * 7) % len(pending)]
            out.append((code, amount + 100, org, f"B{n:012d}"))
        elif kind == 2:
            out.append((f"{900000 + n % 90000}", 30000, organisation(n), f"B{n:012d}"))
        elif kind == 3:
            out.append(("货款", 123400 + n, f"某某{n}贸易有限公司", f"B{n:012d}"))
        else:
            _order_id, code, amount, _org = pending[(n * 3) % len(pending)] if pending else (0, "100000", 1, "")
            out.append((code, amount, f"另一家{n}有限公司", f"B{n:012d}"))
    return out


def dict_match(lines: list[tuple], open_orders: dict[str, tuple[int, int, str]]) -> dict[str, int]:
    """The baseline: the same rules as `payments.transfer.match_line` over lines and open orders in memory."""
    import unicodedata

    from wxbackend.payments.transfer import CODE_RE, _normalised

    outcome = {"matched": 0, "manual": 0}
    for _line_id, remark, amount, payer in lines:
        code = unicodedata.normalize("NFKC", remark).strip()
        found = open_orders.get(code) if CODE_RE.fullmatch(code) else None
        if found is not None and found[1] == amount and _normalised(payer) == _normalised(found[2]):
            outcome["matched"] += 1
        else:
            outcome["manual"] += 1
    return outcome


def bench_matching(app, sizes: Sizes, args) -> None:
    """Bank statement matching of `sizes.lines` lines, beside a dict match of the same lines in memory. Every
    change is rolled back: the seeded database stays as it was."""
    from wxbackend.core.crypto import encrypt
    from wxbackend.core.db import db
    from wxbackend.payments import transfer

    with app.test_request_context():
        raw = db.session.connection().connection.driver_connection  # psycopg, inside the session's transaction
        pending = raw.execute(
            "SELECT o.id, o.transfer_code, o.amount_fen, c.subject_o FROM orders o JOIN certificates c "
            "ON c.id = o.certificate_id WHERE o.status = 'pending_payment' AND o.transfer_code IS NOT NULL "
            "ORDER BY o.id").fetchall()
        rows = statement_lines(pending, sizes.lines)
        account = encrypt("6222020200112233445", "bank_account").hex()
        today = NOW.date().isoformat()
        t0 = time.perf_counter()
        copy_rows(raw, "bank_statement_lines", ("bank_txn_id", "value_date", "amount_fen", "payer_name",
                                                "payer_account_enc", "payer_account_masked", "remark", "status",
                                                "source_file", "manual_reason", "imported_at", "resolution_note"),
                  ((txn, today, str(amount), payer, f"\\\\x{account}", "6222****3445", remark, "new", "bench.csv",
                    "", ts(NOW), "") for remark, amount, payer, txn in rows))
        print(f"\n== statement matching: {len(rows):,} lines ({time.perf_counter() - t0:.1f} s to COPY them), "
              f"{len(pending):,} orders waiting for a transfer; {load_note()}")
        def read_and_match():
            read = raw.execute("SELECT id, remark, amount_fen, payer_name FROM bank_statement_lines "
                               "WHERE status = 'new' ORDER BY id").fetchall()
            waiting = raw.execute(
                "SELECT o.id, o.transfer_code, o.amount_fen, c.subject_o FROM orders o JOIN certificates c "
                "ON c.id = o.certificate_id WHERE o.status = 'pending_payment' AND o.transfer_code IS NOT NULL"
            ).fetchall()
            return dict_match(read, {code: (order_id, amount, org) for order_id, code, amount, org in waiting})

        lines = raw.execute("SELECT id, remark, amount_fen, payer_name FROM bank_statement_lines "
                            "WHERE status = 'new' ORDER BY id").fetchall()
        open_orders = {code: (order_id, amount, org) for order_id, code, amount, org in pending}
        baseline = [timed(lambda: dict_match(lines, open_orders), 1, warm=0)[0] for _ in range(3)]
        expected = dict_match(lines, open_orders)
        base = statistics.median(baseline) / 1000
        print(f"dict match in memory: median {base:.3f} s of {[round(b / 1000, 3) for b in baseline]} → {expected}")
        read_runs = [timed(read_and_match, 1, warm=0)[0] / 1000 for _ in range(3)]
        read_base = statistics.median(read_runs)
        print(f"the same rows read by two plain SELECTs, then the dict match: median {read_base:.3f} s")
        decide = getattr(transfer, "decide_lines", None)
        if decide is not None:
            runs = []
            for _ in range(3):
                t0 = time.perf_counter()
                outcome = {"matched": 0, "manual": 0}
                ids = [line[0] for line in lines]
                for start in range(0, len(ids), transfer.MATCH_BATCH):
                    for decision in decide(ids[start:start + transfer.MATCH_BATCH]):
                        outcome["matched" if decision.order_id is not None and not decision.reason else "manual"] += 1
                runs.append(time.perf_counter() - t0)
            ours = statistics.median(runs)
            print(f"decide_lines (the product's decisions, {transfer.MATCH_BATCH} lines a batch): median {ours:.3f} s"
                  f" of {[round(r, 3) for r in runs]} → {outcome}; ratio {ours / base:.1f} × the dict match in "
                  f"memory (target ≤ 2), {ours / read_base:.1f} × reading the rows and matching in a dict")
        if decide is not None and "explain" in args.only:
            captured: list[tuple[str, str, object]] = []

            def capture(conn, cursor, statement, parameters, context, executemany):
                if statement.lstrip().upper().startswith("SELECT"):
                    captured.append(("matching", statement, parameters))

            sa.event.listen(db.engine, "before_cursor_execute", capture)
            decide([line[0] for line in lines[:transfer.MATCH_BATCH]])
            sa.event.remove(db.engine, "before_cursor_execute", capture)
            print(f"\nthe plans of one batch's decisions ({transfer.MATCH_BATCH} lines):")
            explain_all(db.session.connection(), captured, rollback=False)
        sample = [line[0] for line in lines[: min(len(lines), args.match_sample)]]
        t0 = time.perf_counter()
        results: dict[str, int] = {}
        for line_id in sample:
            outcome = transfer.match_line(line_id)
            results[outcome] = results.get(outcome, 0) + 1
        db.session.flush()
        per_line = (time.perf_counter() - t0) / len(sample)
        print(f"match_line, one line at a time as the job runs it (decision and payment, no commit), "
              f"{len(sample):,} lines: {per_line * 1000:.2f} ms a line → {per_line * len(lines):.0f} s for "
              f"{len(lines):,} lines; ratio {per_line * len(lines) / base:.0f} × the dict match; {results}")
        db.session.rollback()


# ------------------------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--certificates", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=0, help="default: half the certificates")
    parser.add_argument("--bindings", type=int, default=0, help="default: 1.5 per certificate")
    parser.add_argument("--orders", type=int, default=0, help="default: one per certificate (3 events each)")
    parser.add_argument("--lines", type=int, default=0, help="statement lines to match (default 100,000)")
    parser.add_argument("--codes", type=int, default=0, help="live binding codes in Redis (default 100,000)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    parser.add_argument("--match-sample", type=int, default=2000, help="lines matched one at a time by match_line")
    parser.add_argument("--reuse", action="store_true", help="measure on the database seeded before")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated: {','.join(SECTIONS)}")
    parser.add_argument("--child-scan", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    ca_dir = Path(tempfile.mkdtemp(prefix="bench-scale-ca-"))
    if args.child_scan:
        return child_scan(ca_dir)
    sizes = Sizes(args)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    if not args.reuse or not database_exists():
        seed(sizes, ca_dir)
    redis.Redis.from_url(REDIS_URL).flushdb()
    app = make_app(ca_dir)
    with app.app_context():
        from wxbackend.ca.service import init_ca

        init_ca(app.config)
    for name in SECTIONS:
        if name in only:
            globals()[f"bench_{name}"](app, sizes, args)
    redis.Redis.from_url(REDIS_URL).flushdb()


if __name__ == "__main__":
    main()

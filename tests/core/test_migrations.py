"""`flask db upgrade`, `downgrade base`, `upgrade` again on PostgreSQL and SQLite, and no drift from the models."""

import os
import subprocess
import sys

import sqlalchemy as sa

from tests.conftest import PG_ADMIN_URL, ROOT, create_database, drop_database


def flask_db(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "FLASK_APP": "wxbackend:create_app", "APP_ENV": "testing"}
    return subprocess.run([sys.executable, "-m", "flask", "db", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


EXPECTED = {"users", "certificates", "bindings", "cert_apps", "audit_logs", "ca_issued_certificates"}


def round_trip(url: str):
    assert flask_db(url, "upgrade").returncode == 0
    assert EXPECTED <= tables(url)
    check = flask_db(url, "check")
    assert check.returncode == 0, check.stdout + check.stderr  # models and migrations agree
    down = flask_db(url, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert tables(url) == set()
    assert flask_db(url, "upgrade").returncode == 0
    assert EXPECTED <= tables(url)


def test_upgrade_downgrade_upgrade_on_postgresql():
    name = f"cagj_migrate_{os.getpid()}"
    url = create_database(PG_ADMIN_URL, name)
    try:
        round_trip(url)
    finally:
        drop_database(PG_ADMIN_URL, name)


def test_upgrade_downgrade_upgrade_on_sqlite(tmp_path):
    round_trip(f"sqlite:///{tmp_path / 'm.db'}")

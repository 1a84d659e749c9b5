"""Flask extensions shared by the whole backend."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import redis
import sqlalchemy as sa
from flask import current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


class UTCDateTime(sa.types.TypeDecorator):
    """Stores naive UTC on every database, hands back timezone-aware UTC datetimes."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


SHANGHAI = ZoneInfo("Asia/Shanghai")  # where times are shown


def local_day(value) -> str:
    """A moment as its day in Asia/Shanghai, `2026-12-31` ("" for None): how every page and message shows dates."""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d") if value else ""


def local_minute(value) -> str:
    """A moment in Asia/Shanghai to the minute, `2026-12-31 09:30` ("" for None)."""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if value else ""


def utcnow() -> datetime:
    return datetime.now(UTC)


def get_redis() -> redis.Redis:
    """The app's Redis client (one connection pool per process)."""
    client = current_app.extensions.get("redis")
    if client is None:
        client = redis.Redis.from_url(current_app.config["REDIS_URL"], socket_timeout=5, socket_connect_timeout=5)
        current_app.extensions["redis"] = client
    return client


def configured_or_development_secret(config_key: str, filename: str) -> bytes:
    """A base64 32-byte secret from config; in development (the key empty, which production refuses) one
    generated once and kept in var/`filename`."""
    import base64
    import secrets
    from pathlib import Path

    from flask import current_app

    encoded = current_app.config[config_key]
    if not encoded:
        path = Path(current_app.instance_path) / filename
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
            path.chmod(0o600)
        encoded = path.read_text().strip()
    return base64.b64decode(encoded)

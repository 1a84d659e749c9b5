"""The database: one SQLAlchemy instance, the naming convention, migrations, and UTC datetimes."""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.dialects import postgresql
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


def one_of(column, values: list, item_type: sa.types.TypeEngine) -> sa.ColumnElement[bool]:
    """`column IN values` for a long list: on PostgreSQL one array parameter (`= ANY(...)`), so a batch of a
    thousand values costs one bind, not a thousand rendered and parsed ones; elsewhere a plain IN."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(item_type)))
    return column.in_(list(values))


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

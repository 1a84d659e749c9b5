"""indexes for the console's order search and audit-log viewer; audit_logs refuses UPDATE and DELETE

Revision ID: 0010
Revises: 0009

- orders: (created_at, id) and (status, created_at, id) for keyset paging newest first, certificate_id and
  new_certificate_id for the serial search; certificates.subject_o trigrams (pg_trgm, PostgreSQL) for the
  organisation substring search (a plain index on SQLite).
- audit_logs: (actor, id) for one actor's rows newest first; target and action with varchar_pattern_ops so that a
  prefix LIKE uses them whatever the database's collation.
- audit_logs is append-only: a trigger refuses every UPDATE and DELETE (TRUNCATE is a separate privilege and
  event, left to the role's privileges: deploy/audit_role.sql).
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PG_REFUSE = """
CREATE OR REPLACE FUNCTION audit_logs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP;
END
$$
"""
PG_TRIGGER = """
CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_append_only()
"""
SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs "
    "BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: UPDATE refused'); END",
    "CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs "
    "BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: DELETE refused'); END",
]


def is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    op.create_index("ix_orders_created_at_id", "orders", ["created_at", "id"])
    op.create_index("ix_orders_status_created_at_id", "orders", ["status", "created_at", "id"])
    op.create_index("ix_orders_certificate_id", "orders", ["certificate_id"])
    op.create_index("ix_orders_new_certificate_id", "orders", ["new_certificate_id"])
    if is_postgresql():
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index("ix_certificates_subject_o_trgm", "certificates", ["subject_o"], postgresql_using="gin",
                    postgresql_ops={"subject_o": "gin_trgm_ops"})

    op.drop_index("ix_audit_logs_actor", "audit_logs")
    op.create_index("ix_audit_logs_actor_id", "audit_logs", ["actor", "id"])
    op.drop_index("ix_audit_logs_target", "audit_logs")
    op.create_index("ix_audit_logs_target", "audit_logs", ["target"],
                    postgresql_ops={"target": "varchar_pattern_ops"})
    op.drop_index("ix_audit_logs_action", "audit_logs")
    op.create_index("ix_audit_logs_action", "audit_logs", ["action"],
                    postgresql_ops={"action": "varchar_pattern_ops"})

    if is_postgresql():
        op.execute(PG_REFUSE)
        op.execute(PG_TRIGGER)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade():
    if is_postgresql():
        op.execute("DROP TRIGGER IF EXISTS audit_logs_append_only ON audit_logs")
        op.execute("DROP FUNCTION IF EXISTS audit_logs_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_delete")

    op.drop_index("ix_audit_logs_action", "audit_logs")
    op.create_index("ix_audit_logs_action", "audit_logs", ["action"])
    op.drop_index("ix_audit_logs_target", "audit_logs")
    op.create_index("ix_audit_logs_target", "audit_logs", ["target"])
    op.drop_index("ix_audit_logs_actor_id", "audit_logs")
    op.create_index("ix_audit_logs_actor", "audit_logs", ["actor"])

    op.drop_index("ix_certificates_subject_o_trgm", "certificates")  # pg_trgm stays: others may use it
    op.drop_index("ix_orders_new_certificate_id", "orders")
    op.drop_index("ix_orders_certificate_id", "orders")
    op.drop_index("ix_orders_status_created_at_id", "orders")
    op.drop_index("ix_orders_created_at_id", "orders")

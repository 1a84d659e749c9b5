"""approval requests and decisions (four eyes)

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

PENDING = "status = 'pending'"


def upgrade():
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("summary", sa.String(length=1000), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("current_step", sa.Integer(), nullable=False),
        sa.Column("current_roles", sa.String(length=100), nullable=False),
        sa.Column("all_roles", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("closing_note", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_requests")),
    )
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.create_index("uq_approval_requests_pending_object", ["kind", "object_type", "object_id"], unique=True,
                              postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))
        batch_op.create_index("ix_approval_requests_object", ["object_type", "object_id"], unique=False)
        batch_op.create_index("ix_approval_requests_queue", ["status", "created_at", "id"], unique=False)

    op.create_table(
        "approval_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["approval_requests.id"],
                                name=op.f("fk_approval_decisions_request_id_approval_requests")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_members.id"],
                                name=op.f("fk_approval_decisions_staff_id_staff_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_decisions")),
        sa.UniqueConstraint("request_id", "staff_id", name="uq_approval_decisions_request_staff"),
        sa.UniqueConstraint("request_id", "step", name="uq_approval_decisions_request_step"),
    )
    with op.batch_alter_table("approval_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approval_decisions_staff_id"), ["staff_id"], unique=False)


def downgrade():
    with op.batch_alter_table("approval_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_decisions_staff_id"))
    op.drop_table("approval_decisions")
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_approval_requests_queue")
        batch_op.drop_index("ix_approval_requests_object")
        batch_op.drop_index("uq_approval_requests_pending_object", postgresql_where=sa.text(PENDING),
                            sqlite_where=sa.text(PENDING))
    op.drop_table("approval_requests")

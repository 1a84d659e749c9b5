"""Order groups (批量续期): several renewal orders paid with one payment; a payment or a statement line may pay a
group instead of one order

Revision ID: 0026
Revises: 0025
"""
import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

OPEN_CODE = "status = 'pending_payment' AND transfer_code IS NOT NULL"


def upgrade():
    op.create_table(
        "order_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_no", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("pay_channel", sa.String(length=16), nullable=True),
        sa.Column("transfer_code", sa.String(length=6), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("paid_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_order_groups_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_groups")),
        sa.UniqueConstraint("group_no", name=op.f("uq_order_groups_group_no")),
    )
    op.create_index(op.f("ix_order_groups_user_id"), "order_groups", ["user_id"])
    op.create_index(op.f("ix_order_groups_status"), "order_groups", ["status"])
    op.create_index("uq_order_groups_open_transfer_code", "order_groups", ["transfer_code"], unique=True,
                    postgresql_where=sa.text(OPEN_CODE), sqlite_where=sa.text(OPEN_CODE))
    for table in ("orders", "payments", "bank_statement_lines"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
            batch.create_foreign_key(op.f(f"fk_{table}_group_id_order_groups"), "order_groups", ["group_id"], ["id"])
            batch.create_index(op.f(f"ix_{table}_group_id"), ["group_id"])
    with op.batch_alter_table("payments") as batch:
        batch.alter_column("order_id", existing_type=sa.Integer(), nullable=True)


def downgrade():
    op.execute("DELETE FROM payments WHERE order_id IS NULL")
    with op.batch_alter_table("payments") as batch:
        batch.alter_column("order_id", existing_type=sa.Integer(), nullable=False)
    for table in ("bank_statement_lines", "payments", "orders"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(op.f(f"ix_{table}_group_id"))
            batch.drop_constraint(op.f(f"fk_{table}_group_id_order_groups"), type_="foreignkey")
            batch.drop_column("group_id")
    op.drop_index("uq_order_groups_open_transfer_code", table_name="order_groups")
    op.drop_index(op.f("ix_order_groups_status"), table_name="order_groups")
    op.drop_index(op.f("ix_order_groups_user_id"), table_name="order_groups")
    op.drop_table("order_groups")

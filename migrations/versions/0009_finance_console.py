"""finance console: who resolved a manual bank statement line and why; the bank's reference of a manual refund

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("bank_statement_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolved_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("resolved_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("resolution_note", sa.String(length=200), nullable=False, server_default=""))
        batch_op.create_foreign_key(batch_op.f("fk_bank_statement_lines_resolved_by_staff_members"), "staff_members",
                                    ["resolved_by"], ["id"])
        batch_op.create_index("ix_bank_statement_lines_status_id", ["status", "id"], unique=False)
        batch_op.create_index("ix_bank_statement_lines_status_value_date", ["status", "value_date", "id"],
                              unique=False)
        batch_op.create_index("ix_bank_statement_lines_status_amount", ["status", "amount_fen", "id"], unique=False)
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bank_reference", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("done_by", sa.String(length=64), nullable=False, server_default=""))
        batch_op.create_unique_constraint(batch_op.f("uq_refunds_bank_reference"), ["bank_reference"])
        batch_op.create_index("ix_refunds_status_id", ["status", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_refunds_status_id")
        batch_op.drop_constraint(batch_op.f("uq_refunds_bank_reference"), type_="unique")
        batch_op.drop_column("done_by")
        batch_op.drop_column("bank_reference")
    with op.batch_alter_table("bank_statement_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_statement_lines_status_amount")
        batch_op.drop_index("ix_bank_statement_lines_status_value_date")
        batch_op.drop_index("ix_bank_statement_lines_status_id")
        batch_op.drop_constraint(batch_op.f("fk_bank_statement_lines_resolved_by_staff_members"), type_="foreignkey")
        batch_op.drop_column("resolution_note")
        batch_op.drop_column("resolved_at")
        batch_op.drop_column("resolved_by")

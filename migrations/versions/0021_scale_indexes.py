"""Indexes for a CA's scale (issue 19): orders by transfer code, whatever their status

Statement matching explains a line whose code no open order holds by the newest order that had the code (and the
line that already paid it): without this index each such line read every order.

Revision ID: 0021
Revises: 0026
"""
from alembic import op

revision = "0021"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(op.f("ix_orders_transfer_code"), "orders", ["transfer_code"])


def downgrade():
    op.drop_index(op.f("ix_orders_transfer_code"), table_name="orders")

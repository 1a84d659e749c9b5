"""Shipments of replacement keys: the recipient chosen from 我的地址 (a snapshot), the waybill, its tracking

Revision ID: 0022
Revises: 0020
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0020"
branch_labels = None
depends_on = None

WAYBILL = "waybill_no IS NOT NULL"
TRACKED = "shipped_at IS NOT NULL AND signed_at IS NULL"


def upgrade():
    op.create_table(
        "shipments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("address_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(length=50), nullable=False),
        sa.Column("mobile_enc", sa.LargeBinary(), nullable=False),
        sa.Column("mobile_masked", sa.String(length=16), nullable=False),
        sa.Column("province", sa.String(length=32), nullable=False),
        sa.Column("city", sa.String(length=32), nullable=False),
        sa.Column("district", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.Column("postcode", sa.String(length=6), nullable=False),
        sa.Column("carrier", sa.String(length=32), nullable=True),
        sa.Column("waybill_no", sa.String(length=32), nullable=True),
        sa.Column("shipped_at", sa.DateTime(), nullable=True),
        sa.Column("shipped_by", sa.String(length=64), nullable=True),
        sa.Column("tracking_state", sa.Integer(), nullable=True),
        sa.Column("tracking_events", sa.JSON(), nullable=False),
        sa.Column("last_queried_at", sa.DateTime(), nullable=True),
        sa.Column("tracking_error", sa.String(length=200), nullable=False),
        sa.Column("signed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_shipments_order_id_orders")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_shipments_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
        sa.UniqueConstraint("order_id", name=op.f("uq_shipments_order_id")),
    )
    op.create_index(op.f("ix_shipments_user_id"), "shipments", ["user_id"])
    op.create_index("uq_shipments_waybill", "shipments", ["carrier", "waybill_no"], unique=True,
                    postgresql_where=sa.text(WAYBILL), sqlite_where=sa.text(WAYBILL))
    op.create_index("ix_shipments_tracking", "shipments", ["id"],
                    postgresql_where=sa.text(TRACKED), sqlite_where=sa.text(TRACKED))


def downgrade():
    op.drop_index("ix_shipments_tracking", table_name="shipments")
    op.drop_index("uq_shipments_waybill", table_name="shipments")
    op.drop_index(op.f("ix_shipments_user_id"), table_name="shipments")
    op.drop_table("shipments")

"""CMP transactions with the CA system (CA_BACKEND=cmp), kept so that a retry never asks for a certificate twice

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ca_cmp_transactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("request_ref", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("public_key_sha256", sa.String(length=64), nullable=True),
        sa.Column("serial", sa.String(length=64), nullable=True),
        sa.Column("cert_pem", sa.Text(), nullable=True),
        sa.Column("server_nonce", sa.String(length=128), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ca_cmp_transactions")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_ca_cmp_transactions_transaction_id")),
    )
    op.create_index("ix_ca_cmp_transactions_request", "ca_cmp_transactions", ["request_ref", "kind", "id"])


def downgrade():
    op.drop_index("ix_ca_cmp_transactions_request", table_name="ca_cmp_transactions")
    op.drop_table("ca_cmp_transactions")

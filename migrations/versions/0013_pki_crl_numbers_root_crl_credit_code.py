"""PKI: CRL numbers from a database counter, the root CA's CRLs and the CA certificates it revoked, and the
unified social credit code of a certificate's organisation

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    numbers = op.create_table(
        "ca_crl_numbers",
        sa.Column("issuer", sa.String(length=16), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("issuer", name=op.f("pk_ca_crl_numbers")),
    )
    op.bulk_insert(numbers, [{"issuer": "issuing", "last_number": 0}, {"issuer": "root", "last_number": 0}])
    op.create_table(
        "ca_root_crls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("crl_number", sa.BigInteger(), nullable=False),
        sa.Column("this_update", sa.DateTime(), nullable=False),
        sa.Column("next_update", sa.DateTime(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ca_root_crls")),
        sa.UniqueConstraint("crl_number", name=op.f("uq_ca_root_crls_crl_number")),
    )
    op.create_table(
        "ca_revoked_authorities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=False),
        sa.Column("revocation_reason", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ca_revoked_authorities")),
        sa.UniqueConstraint("serial", name=op.f("uq_ca_revoked_authorities_serial")),
    )
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("credit_code", sa.String(length=18), server_default="", nullable=False))


def downgrade():
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("credit_code")
    op.drop_table("ca_revoked_authorities")
    op.drop_table("ca_root_crls")
    op.drop_table("ca_crl_numbers")

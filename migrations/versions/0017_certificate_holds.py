"""Certificate holds (挂失): who reported a key lost and how the hold ended; the CRL entry's invalidity date; one
status for a certificate: revocations made before on the CA's record only are carried to the certificate

Revision ID: 0017
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None

ACTIVE = "status = 'active'"


def upgrade():
    op.create_table(
        "certificate_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reported_at", sa.DateTime(), nullable=False),
        sa.Column("reported_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"],
                                name=op.f("fk_certificate_holds_certificate_id_certificates")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_holds")),
    )
    op.create_index(op.f("ix_certificate_holds_certificate_id"), "certificate_holds", ["certificate_id"])
    op.create_index("uq_certificate_holds_active", "certificate_holds", ["certificate_id"], unique=True,
                    postgresql_where=sa.text(ACTIVE), sqlite_where=sa.text(ACTIVE))
    with op.batch_alter_table("ca_issued_certificates") as batch:
        batch.add_column(sa.Column("invalidity_date", sa.DateTime(), nullable=True))
    # Before this revision `flask ca revoke` changed only the CA's record: make the certificate say so too.
    op.execute("UPDATE certificates SET status = 'revoked' WHERE status <> 'revoked' AND serial IN "
               "(SELECT serial FROM ca_issued_certificates WHERE status = 'revoked')")


def downgrade():
    with op.batch_alter_table("ca_issued_certificates") as batch:
        batch.drop_column("invalidity_date")
    op.drop_index("uq_certificate_holds_active", table_name="certificate_holds")
    op.drop_index(op.f("ix_certificate_holds_certificate_id"), table_name="certificate_holds")
    op.drop_table("certificate_holds")

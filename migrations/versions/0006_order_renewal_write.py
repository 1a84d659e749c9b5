"""orders remember the certificate issued for them and the one installed

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issued_certificate_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("new_certificate_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_orders_issued_certificate_id_ca_issued_certificates"),
                                    "ca_issued_certificates", ["issued_certificate_id"], ["id"])
        batch_op.create_foreign_key(batch_op.f("fk_orders_new_certificate_id_certificates"), "certificates",
                                    ["new_certificate_id"], ["id"])


def downgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_orders_new_certificate_id_certificates"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_orders_issued_certificate_id_ca_issued_certificates"),
                                 type_="foreignkey")
        batch_op.drop_column("new_certificate_id")
        batch_op.drop_column("issued_certificate_id")

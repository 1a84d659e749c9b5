"""Counter personalisation of replacement keys and the delivery of their PINs (issue 14)

Revision ID: 0023
Revises: 0022
"""
import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('counter_personalisations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('token_serial', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('issued_certificate_id', sa.Integer(), nullable=False),
    sa.Column('new_certificate_id', sa.Integer(), nullable=True),
    sa.Column('seal_key_enc', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('written_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['issued_certificate_id'], ['ca_issued_certificates.id'],
                            name=op.f('fk_counter_personalisations_issued_certificate_id_ca_issued_certificates')),
    sa.ForeignKeyConstraint(['new_certificate_id'], ['certificates.id'],
                            name=op.f('fk_counter_personalisations_new_certificate_id_certificates')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_counter_personalisations_order_id_orders')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_members.id'],
                            name=op.f('fk_counter_personalisations_staff_id_staff_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counter_personalisations'))
    )
    with op.batch_alter_table('counter_personalisations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_counter_personalisations_order_id'), ['order_id'], unique=False)

    op.create_table('counter_pin_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('personalisation_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('pin_enc', sa.LargeBinary(), nullable=True),
    sa.Column('recipient_masked', sa.String(length=64), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('failure_reason', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('delivered_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['personalisation_id'], ['counter_personalisations.id'],
                            name=op.f('fk_counter_pin_deliveries_personalisation_id_counter_personalisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counter_pin_deliveries')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_counter_pin_deliveries_idempotency_key')),
    sa.UniqueConstraint('personalisation_id', name=op.f('uq_counter_pin_deliveries_personalisation_id'))
    )


def downgrade():
    op.drop_table('counter_pin_deliveries')
    with op.batch_alter_table('counter_personalisations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_counter_personalisations_order_id'))

    op.drop_table('counter_personalisations')

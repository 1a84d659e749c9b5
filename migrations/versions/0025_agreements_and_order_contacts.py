"""The service agreement's acceptances, 经办人/收件人 and the fee breakdown on orders, paper invoices

Revision ID: 0025
Revises: 0023
"""
import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0023'
branch_labels = None
depends_on = None

UNDELIVERED_BEFORE = "status = 'pending' OR (status = 'issued' AND emailed_at IS NULL)"
UNDELIVERED = "status = 'pending' OR (status = 'issued' AND emailed_at IS NULL AND posted_at IS NULL)"


def upgrade():
    op.create_table('agreement_acceptances',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('document', sa.String(length=32), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('accepted_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_agreement_acceptances_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_acceptances')),
    sa.UniqueConstraint('user_id', 'document', 'version', name=op.f('uq_agreement_acceptances_user_id'))
    )
    with op.batch_alter_table('agreement_acceptances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_acceptances_user_id'), ['user_id'], unique=False)

    op.create_table('order_contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('operator_id_type', sa.String(length=20), nullable=False),
    sa.Column('operator_id_number_enc', sa.LargeBinary(), nullable=False),
    sa.Column('operator_id_number_masked', sa.String(length=32), nullable=False),
    sa.Column('operator_name', sa.String(length=50), nullable=False),
    sa.Column('operator_mobile_enc', sa.LargeBinary(), nullable=False),
    sa.Column('operator_mobile_masked', sa.String(length=16), nullable=False),
    sa.Column('operator_email', sa.String(length=120), nullable=False),
    sa.Column('recipient_name', sa.String(length=50), nullable=False),
    sa.Column('recipient_mobile_enc', sa.LargeBinary(), nullable=False),
    sa.Column('recipient_mobile_masked', sa.String(length=16), nullable=False),
    sa.Column('recipient_address_enc', sa.LargeBinary(), nullable=False),
    sa.Column('recipient_address_masked', sa.String(length=120), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_contacts_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_contacts')),
    sa.UniqueConstraint('order_id', name=op.f('uq_order_contacts_order_id'))
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery', sa.String(length=16), server_default='electronic', nullable=False))
        batch_op.add_column(sa.Column('recipient_name', sa.String(length=50), server_default='', nullable=False))
        batch_op.add_column(sa.Column('recipient_mobile_enc', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('recipient_mobile_masked', sa.String(length=16), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('recipient_address_enc', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('recipient_address_masked', sa.String(length=120), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('to_post_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('posted_at', sa.DateTime(), nullable=True))
    # a paper invoice posted by staff has reached the user: the 未送达发票 index leaves it out
    op.drop_index("ix_invoices_undelivered", "invoices")
    op.create_index("ix_invoices_undelivered", "invoices", ["created_at", "id"],
                    postgresql_where=sa.text(UNDELIVERED), sqlite_where=sa.text(UNDELIVERED))

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agreement_version', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('agreed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('fee_items', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('invoice_delivery', sa.String(length=16), server_default='electronic',
                                      nullable=False))



def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('invoice_delivery')
        batch_op.drop_column('fee_items')
        batch_op.drop_column('agreed_at')
        batch_op.drop_column('agreement_version')

    op.drop_index("ix_invoices_undelivered", "invoices")
    op.create_index("ix_invoices_undelivered", "invoices", ["created_at", "id"],
                    postgresql_where=sa.text(UNDELIVERED_BEFORE), sqlite_where=sa.text(UNDELIVERED_BEFORE))
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_column('posted_at')
        batch_op.drop_column('to_post_at')
        batch_op.drop_column('recipient_address_masked')
        batch_op.drop_column('recipient_address_enc')
        batch_op.drop_column('recipient_mobile_masked')
        batch_op.drop_column('recipient_mobile_enc')
        batch_op.drop_column('recipient_name')
        batch_op.drop_column('delivery')

    op.drop_table('order_contacts')
    with op.batch_alter_table('agreement_acceptances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_acceptances_user_id'))

    op.drop_table('agreement_acceptances')

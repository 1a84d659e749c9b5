"""bank statement lines (corporate transfers)

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('bank_statement_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bank_txn_id', sa.String(length=64), nullable=False),
    sa.Column('value_date', sa.Date(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('payer_name', sa.String(length=200), nullable=False),
    sa.Column('payer_account_enc', sa.LargeBinary(), nullable=False),
    sa.Column('payer_account_masked', sa.String(length=48), nullable=False),
    sa.Column('remark', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('manual_reason', sa.String(length=200), nullable=False),
    sa.Column('source_file', sa.String(length=255), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_bank_statement_lines_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_statement_lines')),
    sa.UniqueConstraint('bank_txn_id', name=op.f('uq_bank_statement_lines_bank_txn_id'))
    )
    with op.batch_alter_table('bank_statement_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_statement_lines_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bank_statement_lines_status'), ['status'], unique=False)
        batch_op.create_index('uq_bank_statement_lines_matched_order', ['order_id'], unique=True, postgresql_where=sa.text("status = 'matched'"), sqlite_where=sa.text("status = 'matched'"))


def downgrade():
    with op.batch_alter_table('bank_statement_lines', schema=None) as batch_op:
        batch_op.drop_index('uq_bank_statement_lines_matched_order', postgresql_where=sa.text("status = 'matched'"), sqlite_where=sa.text("status = 'matched'"))
        batch_op.drop_index(batch_op.f('ix_bank_statement_lines_status'))
        batch_op.drop_index(batch_op.f('ix_bank_statement_lines_order_id'))

    op.drop_table('bank_statement_lines')

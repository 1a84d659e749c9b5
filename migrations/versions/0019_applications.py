"""Reviewed applications: applications, their revisions and uploads, liveness checks and 金融认证 attempts

Revision ID: 0019
Revises: 0017 (the integrator re-chains it)
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('applications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_no', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('agreement_version', sa.String(length=32), nullable=True),
    sa.Column('agreed_at', sa.DateTime(), nullable=True),
    sa.Column('consent_version', sa.String(length=32), nullable=True),
    sa.Column('consented_at', sa.DateTime(), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'],
                            name=op.f('fk_applications_certificate_id_certificates')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'],
                            name=op.f('fk_applications_order_id_orders')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_applications_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_applications')),
    sa.UniqueConstraint('application_no', name=op.f('uq_applications_application_no')),
    sa.UniqueConstraint('order_id', name=op.f('uq_applications_order_id'))
    )
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_applications_certificate_id'), ['certificate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_applications_user_id'), ['user_id'], unique=False)

    op.create_table('application_revisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('sensitive_enc', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'],
                            name=op.f('fk_application_revisions_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_application_revisions')),
    sa.UniqueConstraint('application_id', 'number', name='uq_application_revisions_number')
    )
    op.create_table('application_uploads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('store_key', sa.String(length=128), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('replaced_at', sa.DateTime(), nullable=True),
    sa.Column('deleted_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'],
                            name=op.f('fk_application_uploads_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_application_uploads')),
    sa.UniqueConstraint('public_id', name=op.f('uq_application_uploads_public_id'))
    )
    with op.batch_alter_table('application_uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_application_uploads_application_id'), ['application_id'], unique=False)

    op.create_table('fin_verifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('account_name', sa.String(length=200), nullable=False),
    sa.Column('bank_name', sa.String(length=100), nullable=False),
    sa.Column('account_masked', sa.String(length=40), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('code_enc', sa.LargeBinary(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('bank_reference', sa.String(length=64), nullable=False),
    sa.Column('failure_reason', sa.String(length=200), nullable=False),
    sa.Column('wrong_tries', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('paid_at', sa.DateTime(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'],
                            name=op.f('fk_fin_verifications_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fin_verifications')),
    sa.UniqueConstraint('application_id', 'attempt', name='uq_fin_verifications_attempt'),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_fin_verifications_idempotency_key'))
    )
    with op.batch_alter_table('fin_verifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fin_verifications_application_id'), ['application_id'], unique=False)

    op.create_table('liveness_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('biz_token', sa.String(length=128), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('agent_id_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reference', sa.String(length=128), nullable=False),
    sa.Column('similarity', sa.Float(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'],
                            name=op.f('fk_liveness_checks_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_liveness_checks')),
    sa.UniqueConstraint('biz_token', name=op.f('uq_liveness_checks_biz_token'))
    )
    with op.batch_alter_table('liveness_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_liveness_checks_application_id'), ['application_id'], unique=False)



def downgrade():
    with op.batch_alter_table('liveness_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_liveness_checks_application_id'))

    op.drop_table('liveness_checks')
    with op.batch_alter_table('fin_verifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fin_verifications_application_id'))

    op.drop_table('fin_verifications')
    with op.batch_alter_table('application_uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_application_uploads_application_id'))

    op.drop_table('application_uploads')
    op.drop_table('application_revisions')
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_applications_user_id'))
        batch_op.drop_index(batch_op.f('ix_applications_certificate_id'))

    op.drop_table('applications')

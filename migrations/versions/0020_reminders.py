"""Expiry reminders: reminders, their deliveries, users' reminder settings and subscribe accepts; the scan's
indexes on certificates (not_after, id), certificates.previous_id and cert_apps (expires_at, id)

Revision ID: 0020
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('reminders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('target', sa.String(length=16), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('cert_app_id', sa.Integer(), nullable=True),
    sa.Column('stage', sa.Integer(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['cert_app_id'], ['cert_apps.id'], name=op.f('fk_reminders_cert_app_id_cert_apps')),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'],
                            name=op.f('fk_reminders_certificate_id_certificates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminders')),
    sa.UniqueConstraint('key', name=op.f('uq_reminders_key'))
    )
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminders_cert_app_id'), ['cert_app_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reminders_certificate_id'), ['certificate_id'], unique=False)

    op.create_table('reminder_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reminder_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['reminder_id'], ['reminders.id'],
                            name=op.f('fk_reminder_deliveries_reminder_id_reminders')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_reminder_deliveries_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_deliveries')),
    sa.UniqueConstraint('reminder_id', 'user_id', name='uq_reminder_deliveries_reminder_user')
    )
    with op.batch_alter_table('reminder_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminder_deliveries_user_id'), ['user_id'], unique=False)

    op.create_table('reminder_preferences',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('sms_opt_in', sa.Boolean(), nullable=False),
    sa.Column('mobile_enc', sa.LargeBinary(), nullable=True),
    sa.Column('mobile_masked', sa.String(length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_reminder_preferences_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_reminder_preferences'))
    )
    op.create_table('subscribe_accepts',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('remaining', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_subscribe_accepts_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', 'kind', name=op.f('pk_subscribe_accepts'))
    )

    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.create_index('ix_certificates_not_after_id', ['not_after', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_certificates_previous_id'), ['previous_id'], unique=False)
    with op.batch_alter_table('cert_apps', schema=None) as batch_op:
        batch_op.create_index('ix_cert_apps_expires_at_id', ['expires_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('cert_apps', schema=None) as batch_op:
        batch_op.drop_index('ix_cert_apps_expires_at_id')
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificates_previous_id'))
        batch_op.drop_index('ix_certificates_not_after_id')
    op.drop_table('subscribe_accepts')
    op.drop_table('reminder_preferences')
    with op.batch_alter_table('reminder_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminder_deliveries_user_id'))
    op.drop_table('reminder_deliveries')
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminders_certificate_id'))
        batch_op.drop_index(batch_op.f('ix_reminders_cert_app_id'))
    op.drop_table('reminders')

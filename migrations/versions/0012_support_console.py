"""人工客服 conversations, messages and replies; why an invoice is undelivered (last_error) and the index of the
未送达发票 queue

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UNDELIVERED = "status = 'pending' OR (status = 'issued' AND emailed_at IS NULL)"
LIVE = "status IN ('open', 'answered')"


def upgrade():
    op.create_table(
        "support_conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_since", sa.DateTime(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("last_message_at", sa.DateTime(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        sa.Column("close_note", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_support_conversations_user_id_users")),
        sa.ForeignKeyConstraint(["closed_by"], ["staff_members.id"],
                                name=op.f("fk_support_conversations_closed_by_staff_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_conversations")),
    )
    op.create_index("uq_support_conversations_live_per_user", "support_conversations", ["user_id"], unique=True,
                    postgresql_where=sa.text(LIVE), sqlite_where=sa.text(LIVE))
    op.create_index("ix_support_conversations_queue", "support_conversations", ["status", "status_since", "id"])
    op.create_table(
        "support_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["support_conversations.id"],
                                name=op.f("fk_support_messages_conversation_id_support_conversations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_messages")),
        sa.UniqueConstraint("key", name=op.f("uq_support_messages_key")),
    )
    op.create_index(op.f("ix_support_messages_conversation_id"), "support_messages", ["conversation_id"])
    op.create_table(
        "support_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("errcode", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["support_conversations.id"],
                                name=op.f("fk_support_replies_conversation_id_support_conversations")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_members.id"],
                                name=op.f("fk_support_replies_staff_id_staff_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_replies")),
    )
    op.create_index(op.f("ix_support_replies_conversation_id"), "support_replies", ["conversation_id"])
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("last_error", sa.String(length=300), server_default="", nullable=False))
        batch.add_column(sa.Column("last_error_at", sa.DateTime(), nullable=True))
    op.create_index("ix_invoices_undelivered", "invoices", ["created_at", "id"],
                    postgresql_where=sa.text(UNDELIVERED), sqlite_where=sa.text(UNDELIVERED))


def downgrade():
    op.drop_index("ix_invoices_undelivered", "invoices")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("last_error_at")
        batch.drop_column("last_error")
    op.drop_index(op.f("ix_support_replies_conversation_id"), "support_replies")
    op.drop_table("support_replies")
    op.drop_index(op.f("ix_support_messages_conversation_id"), "support_messages")
    op.drop_table("support_messages")
    op.drop_index("ix_support_conversations_queue", "support_conversations")
    op.drop_index("uq_support_conversations_live_per_user", "support_conversations")
    op.drop_table("support_conversations")

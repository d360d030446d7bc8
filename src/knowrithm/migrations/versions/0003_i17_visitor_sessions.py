"""Visitor sessions: each lead conversation remembers the session that started it

Revision ID: i17_visitor_sessions
Revises: 0002

A lead token belongs to one visitor session (its `sid` claim); the session reaches only the
conversations it started. Conversations started before this revision have no session and
stay reachable by staff only.
"""
from alembic import op
import sqlalchemy as sa

revision = 'i17_visitor_sessions'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('conversations', sa.Column('visitor_session_id', sa.Uuid(), nullable=True))
    op.create_index('ix_conversations_visitor_session_id', 'conversations', ['visitor_session_id'])


def downgrade() -> None:
    op.drop_index('ix_conversations_visitor_session_id', table_name='conversations')
    op.drop_column('conversations', 'visitor_session_id')

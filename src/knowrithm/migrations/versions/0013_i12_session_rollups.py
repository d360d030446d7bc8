"""Hourly session summaries and hourly/daily client addresses from the request logs, so the
dashboard's session statistics read rollups instead of every request.

The usage rollups are cut back to where the request logs still have rows: the next beat runs
roll every table up again from there, so all three cover the same hours (readers share one
watermark). Usage rows older than the oldest request log stay (their raw rows are gone).

Revision ID: i12_session_rollups
Revises: i12_request_logs
"""
import sqlalchemy as sa
from alembic import op

revision = "i12_session_rollups"
down_revision = "i12_request_logs"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "session_rollups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("breaks", sa.Integer(), nullable=False),
        sa.Column("break_time", sa.Interval(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_rollups")),
    )
    op.create_index("ix_session_rollups_company_period", "session_rollups", ["company_id", "period_start"])
    op.create_table(
        "client_ip_rollups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("granularity", sa.String(length=8), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_ip_rollups")),
    )
    op.create_index("ix_client_ip_rollups_company_period", "client_ip_rollups",
                    ["company_id", "granularity", "period_start"])
    op.execute("""
        DELETE FROM api_usage_rollups u USING (SELECT min(created_at) AS first FROM api_request_logs) l
        WHERE l.first IS NOT NULL
          AND u.period_start >= date_trunc(CASE u.granularity WHEN 'day' THEN 'day' ELSE 'hour' END, l.first)
    """)


def downgrade():
    op.drop_index("ix_client_ip_rollups_company_period", table_name="client_ip_rollups")
    op.drop_table("client_ip_rollups")
    op.drop_index("ix_session_rollups_company_period", table_name="session_rollups")
    op.drop_table("session_rollups")

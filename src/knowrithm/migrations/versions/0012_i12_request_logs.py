"""Request logs for every authenticated caller (auth type, lead, client IP) and their hourly and
daily rollups.

Revision ID: i12_request_logs
Revises: i17_visitor_sessions
"""
import sqlalchemy as sa
from alembic import op

revision = "i12_request_logs"
down_revision = "i17_visitor_sessions"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("api_request_logs", sa.Column("auth_type", sa.String(length=16), nullable=True))
    op.add_column("api_request_logs", sa.Column("lead_id", sa.Uuid(), nullable=True))
    op.add_column("api_request_logs", sa.Column("ip_address", sa.String(length=45), nullable=True))
    op.execute("UPDATE api_request_logs SET auth_type = 'api_key' WHERE api_key_id IS NOT NULL")
    op.create_table(
        "api_usage_rollups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("granularity", sa.String(length=8), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=True),
        sa.Column("api_key_id", sa.Uuid(), nullable=True),
        sa.Column("auth_type", sa.String(length=16), nullable=True),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("total_ms", sa.Float(), nullable=False),
        sa.Column("max_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_usage_rollups")),
    )
    op.create_index("ix_api_usage_rollups_period", "api_usage_rollups", ["granularity", "period_start", "company_id"])


def downgrade():
    op.drop_index("ix_api_usage_rollups_period", table_name="api_usage_rollups")
    op.drop_table("api_usage_rollups")
    op.drop_column("api_request_logs", "ip_address")
    op.drop_column("api_request_logs", "lead_id")
    op.drop_column("api_request_logs", "auth_type")

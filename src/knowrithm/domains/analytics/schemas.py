"""The answers of the analytics routes. Reports are figures grouped by theme: each model names
the groups always present; what a group holds is described on the report page, not promised
key by key."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from knowrithm.infra.responses import Open


class DateRange(BaseModel):
    start_date: datetime
    end_date: datetime


class UsageOut(Open):
    """API-usage figures (`/overview`, `/usage-trends`, ...) under `data`."""

    success: bool
    data: dict[str, Any]


class DashboardOut(Open):
    """`security_analytics.recent_audit_events` is filled for admins only."""

    core_metrics: dict[str, Any]
    conversation_analytics: dict[str, Any]
    agent_analytics: dict[str, Any]
    lead_analytics: dict[str, Any]
    document_analytics: dict[str, Any]
    activity_analytics: dict[str, Any]
    company_analytics: dict[str, Any]
    performance_analytics: dict[str, Any]
    database_analytics: dict[str, Any]
    website_analytics: dict[str, Any]
    security_analytics: dict[str, Any]
    user_management: dict[str, Any]


class AgentReportOut(Open):
    agent_info: dict[str, Any]
    date_range: DateRange
    conversation_metrics: dict[str, Any]
    message_metrics: dict[str, Any]
    performance_metrics: dict[str, Any]
    quality_metrics: dict[str, Any]
    conversion_metrics: dict[str, Any]
    token_usage: dict[str, Any]
    activity_trend: list[Any]
    top_sources: list[Any]


class AgentComparisonOut(Open):
    agent_info: dict[str, Any]
    date_range: DateRange
    performance_comparison: dict[str, Any]


class ConversationReportOut(Open):
    conversation_id: str
    conversation_status: dict[str, int]
    lead_engagement: dict[str, Any]
    message_analytics: dict[str, Any]
    message_roles: Any
    activity_timeline: Any
    top_conversations: Any


class LeadReportOut(Open):
    date_range: DateRange
    lead_summary: dict[str, Any]
    lead_status_distribution: dict[str, int]
    status_distribution: list[dict[str, Any]]
    lead_sources: Any
    source_analysis: Any
    top_performing_sources: Any
    consent_analytics: dict[str, Any]
    lead_quality: Any
    conversation_engagement: Any
    conversion_funnel: Any
    daily_new_leads: Any
    daily_trend: Any


class ActivityDay(Open):
    date: str
    conversations: int
    messages: int


class UsageReportOut(Open):
    date_range: DateRange
    activity_timeline: list[ActivityDay]
    agent_usage: dict[str, Any]
    api_usage: dict[str, Any]
    storage_usage: dict[str, Any]
    token_usage: dict[str, Any]
    endpoint_usage: Any
    top_client_ips: Any
    daily_usage_trend: Any


class SupportReportOut(Open):
    date_range: DateRange
    conversations_handled: int = Field(ge=0)
    resolution: dict[str, Any]
    deflection: dict[str, Any]
    csat: dict[str, Any]
    response_time_seconds: dict[str, Any]
    tokens: dict[str, Any]
    unanswered_questions: Any
    top_questions: Any
    top_topics: Any


class ExportOut(Open):
    """The JSON export: the rows under the export type's name (`conversations`, `leads`, ...)."""

    metadata: dict[str, Any]
    count: int = Field(ge=0)

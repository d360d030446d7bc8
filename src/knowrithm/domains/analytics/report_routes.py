"""Company analytics routes, on the analytics blueprint."""
from __future__ import annotations

from flask import Response
from pydantic import BaseModel, ConfigDict, Field

from knowrithm.infra.auth import READ, WRITE, acting_company_id, current_principal
from knowrithm.infra.parsing import UuidText
from knowrithm.infra.ratelimit import rate_limit
from knowrithm.infra.responses import TaskAccepted
from knowrithm.infra.tasks import accepted_body

from . import reports, support
from .routes import bp
from .schemas import (AgentComparisonOut, AgentReportOut, ConversationReportOut, DashboardOut, ExportOut, LeadReportOut,
                      SupportReportOut, UsageReportOut)
from .tasks import queue_collect_metrics


class CompanyQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    company_id: UuidText | None = None


class RangeQuery(CompanyQuery):
    start_date: str | None = Field(None, json_schema_extra={"format": "date"})
    end_date: str | None = Field(None, json_schema_extra={"format": "date"})


class AnalyticsExportIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(description="conversations | leads | agents | usage",
                      json_schema_extra={"enum": ["conversations", "leads", "agents", "usage"]})
    format: str = Field("json", description="json | csv", json_schema_extra={"enum": ["json", "csv"]})
    start_date: str | None = Field(None, json_schema_extra={"format": "date"})
    end_date: str | None = Field(None, json_schema_extra={"format": "date"})


@bp.get("/analytic/dashboard", auth=READ, query=CompanyQuery, response=DashboardOut, summary="Company dashboard")
def dashboard(query: CompanyQuery):
    principal = current_principal()
    # Audit events name people: admins only (a key also needs its `admin` scope).
    admin = principal.is_admin and (principal.kind != "api_key" or principal.has_scope("admin"))
    return reports.dashboard(acting_company_id(query.company_id), include_audit=admin)


@bp.get("/analytic/agent/<agent_id>", auth=READ, query=RangeQuery, response=AgentReportOut,
        summary="One agent's analytics")
def agent(agent_id: str, query: RangeQuery):
    acting_company_id(query.company_id)
    return reports.agent_report(agent_id, *reports.date_range(query.start_date, query.end_date))


@bp.get("/analytic/agent/<agent_id>/performance-comparison", auth=READ, query=RangeQuery,
        response=AgentComparisonOut,
        summary="An agent against the company average")
def agent_comparison(agent_id: str, query: RangeQuery):
    acting_company_id(query.company_id)
    return reports.agent_comparison(agent_id, *reports.date_range(query.start_date, query.end_date))


@bp.get("/analytic/conversation/<conversation_id>", auth=READ, response=ConversationReportOut,
        summary="One conversation's analytics")
def conversation(conversation_id: str):
    return reports.conversation_report(conversation_id)


@bp.get("/analytic/leads", auth=READ, query=RangeQuery, response=LeadReportOut, summary="Lead funnel analytics")
def leads(query: RangeQuery):
    acting_company_id(query.company_id)
    return reports.lead_report(*reports.date_range(query.start_date, query.end_date))


@bp.get("/analytic/usage", auth=READ, query=RangeQuery, response=UsageReportOut,
        summary="Usage: agents, API, storage, tokens")
def usage(query: RangeQuery):
    company_id = acting_company_id(query.company_id)
    return reports.usage_report(company_id, *reports.date_range(query.start_date, query.end_date))


class SupportQuery(RangeQuery):
    agent_id: UuidText | None = None
    limit: int = Field(10, ge=1, le=100)


@bp.get("/analytic/support", auth=READ, query=SupportQuery, response=SupportReportOut,
        summary="Support metrics: resolution, deflection, CSAT, unanswered questions, response times, cost")
def support_metrics(query: SupportQuery):
    acting_company_id(query.company_id)
    start, end = reports.date_range(query.start_date, query.end_date)
    return support.support_metrics(start, end, agent_id=query.agent_id, limit=query.limit)


@bp.post("/analytic/export", auth=READ, audit="export.analytics", body=AnalyticsExportIn, response=ExportOut,
         also_media=("text/csv",), summary="Export analytics as JSON or CSV")
def export(body: AnalyticsExportIn):
    company_id = acting_company_id()
    start, end = reports.date_range(body.start_date, body.end_date, default_days=3650)
    payload, _ = reports.export(company_id, export_type=body.type, export_format=body.format, start=start, end=end)
    if isinstance(payload, str):
        return Response(payload, mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename={body.type}.csv"})
    return payload


@bp.post("/system-metric", auth=WRITE, status=202, response=TaskAccepted,
         summary="Collect the company's metrics now (queued)")
@rate_limit("30/minute", scope="system-metric", per="company")
def collect():
    record = queue_collect_metrics(acting_company_id())
    return accepted_body(record, message="Metric collection queued.", estimated_time=2)

"""Company analytics routes (CONTRACT §2.17 Q1–Q7, S1), on the analytics blueprint."""
from __future__ import annotations

from flask import Response
from pydantic import BaseModel, ConfigDict, Field

from knowrithm.infra.auth import READ, WRITE, acting_company_id
from knowrithm.infra.ratelimit import rate_limit
from knowrithm.infra.tasks import accepted_body, enqueue

from . import reports
from .routes import bp


class CompanyQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    company_id: str | None = None


class RangeQuery(CompanyQuery):
    start_date: str | None = None
    end_date: str | None = None


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(description="conversations | leads | agents | usage")
    format: str = Field("json", description="json | csv")
    start_date: str | None = None
    end_date: str | None = None


@bp.get("/analytic/dashboard", auth=READ, query=CompanyQuery, summary="Company dashboard")
def dashboard(query: CompanyQuery):
    return reports.dashboard(acting_company_id(query.company_id))


@bp.get("/analytic/agent/<agent_id>", auth=READ, query=RangeQuery, summary="One agent's analytics")
def agent(agent_id: str, query: RangeQuery):
    acting_company_id(query.company_id)
    return reports.agent_report(agent_id, *reports.date_range(query.start_date, query.end_date))


@bp.get("/analytic/agent/<agent_id>/performance-comparison", auth=READ, query=RangeQuery,
        summary="An agent against the company average")
def agent_comparison(agent_id: str, query: RangeQuery):
    acting_company_id(query.company_id)
    return reports.agent_comparison(agent_id, *reports.date_range(query.start_date, query.end_date))


@bp.get("/analytic/conversation/<conversation_id>", auth=READ, summary="One conversation's analytics")
def conversation(conversation_id: str):
    return reports.conversation_report(conversation_id)


@bp.get("/analytic/leads", auth=READ, query=RangeQuery, summary="Lead funnel analytics")
def leads(query: RangeQuery):
    acting_company_id(query.company_id)
    return reports.lead_report(*reports.date_range(query.start_date, query.end_date))


@bp.get("/analytic/usage", auth=READ, query=RangeQuery, summary="Usage: agents, API, storage, tokens")
def usage(query: RangeQuery):
    company_id = acting_company_id(query.company_id)
    return reports.usage_report(company_id, *reports.date_range(query.start_date, query.end_date))


@bp.post("/analytic/export", auth=READ, body=ExportIn, summary="Export analytics as JSON or CSV")
def export(body: ExportIn):
    company_id = acting_company_id()
    start, end = reports.date_range(body.start_date, body.end_date, default_days=3650)
    payload, _ = reports.export(company_id, export_type=body.type, export_format=body.format, start=start, end=end)
    if isinstance(payload, str):
        return Response(payload, mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename={body.type}.csv"})
    return payload


@bp.post("/system-metric", auth=WRITE, status=202, summary="Collect the company's metrics now (queued)")
@rate_limit("30/minute", scope="system-metric", per="company")
def collect():
    from .tasks import collect_metrics

    record = enqueue(collect_metrics, company_id=acting_company_id())
    return accepted_body(record, message="Metric collection queued.", estimated_time=2)

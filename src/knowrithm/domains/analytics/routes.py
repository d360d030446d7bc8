"""API-usage analytics routes: admins by JWT, keys with read+admin."""
from __future__ import annotations

from pydantic import Field

from knowrithm.domains.auth.schemas import Input
from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import READ_ADMIN, acting_company_id, current_principal
from knowrithm.infra.parsing import UuidText

from . import api_usage
from .schemas import UsageOut

bp = ApiBlueprint("analytics", __name__, tag="analytics")


class UsageQuery(Input):
    days: int = Field(30, ge=1, le=365)
    limit: int = Field(10, ge=1, le=100)
    company_id: UuidText | None = Field(None, description="super admins: one company (default: the whole platform)")


class TrendsQuery(UsageQuery):
    granularity: str = Field("daily", pattern="^(daily|hourly)$")


class RateLimitQuery(UsageQuery):
    days: int = Field(7, ge=1, le=365)


def _company(query: UsageQuery):
    """The caller's company; a super admin sees the platform unless naming one."""
    principal = current_principal()
    if principal.is_super_admin and not query.company_id:
        return None
    return acting_company_id(query.company_id)


def _ok(data: dict) -> dict:
    return {"success": True, "data": data}


@bp.get("/overview", auth=READ_ADMIN, query=UsageQuery, response=UsageOut, summary="API keys and API usage at a glance")
def get_overview(query: UsageQuery):
    return _ok(api_usage.overview(company_id=_company(query), days=query.days))


@bp.get("/usage-trends", auth=READ_ADMIN, query=TrendsQuery, response=UsageOut, summary="API requests per day or hour")
def get_usage_trends(query: TrendsQuery):
    return _ok(api_usage.usage_trends(company_id=_company(query), days=query.days, granularity=query.granularity))


@bp.get("/top-endpoints", auth=READ_ADMIN, query=UsageQuery, response=UsageOut, summary="Most requested endpoints")
def get_top_endpoints(query: UsageQuery):
    return _ok(api_usage.top_endpoints(company_id=_company(query), days=query.days, limit=query.limit))


@bp.get("/api-key-performance", auth=READ_ADMIN, query=UsageQuery, response=UsageOut,
        summary="Requests and latency per API key")
def get_api_key_performance(query: UsageQuery):
    return _ok(api_usage.key_performance(company_id=_company(query), days=query.days, limit=query.limit))


@bp.get("/error-analysis", auth=READ_ADMIN, query=UsageQuery, response=UsageOut,
        summary="API errors by status and endpoint")
def get_error_analysis(query: UsageQuery):
    return _ok(api_usage.error_analysis(company_id=_company(query), days=query.days, limit=query.limit))


@bp.get("/rate-limit-analysis", auth=READ_ADMIN, query=RateLimitQuery, response=UsageOut,
        summary="Each API key's current use of its hourly and daily limits")
def get_rate_limit_analysis(query: RateLimitQuery):
    return _ok(api_usage.rate_limit_analysis(company_id=_company(query), days=query.days, limit=query.limit))


@bp.get("/detailed-usage/<api_key_id>", auth=READ_ADMIN, query=UsageQuery, response=UsageOut,
        summary="Usage of one API key")
def get_detailed_usage(api_key_id: str, query: UsageQuery):
    return _ok(api_usage.detailed_usage(api_key_id=api_key_id, days=query.days))


# Company analytics (report_routes.py) register on the same blueprint.
from . import report_routes  # noqa: E402,F401

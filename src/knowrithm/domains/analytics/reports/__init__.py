"""Company analytics: dashboard, agent, conversation, lead and usage reports, exports and metrics.

Every figure is an aggregate over the caller's company: tenant-owned tables are scoped by
infra.tenancy; users, audit rows and request logs carry `company_id` without being
tenant-owned (platform users and platform events exist too), so they are filtered here.
One module per report; callers use this package's names.
"""
from .agents import agent_comparison, agent_report
from .common import date_range
from .conversation import conversation_report
from .dashboard import dashboard
from .export import EXPORT_TYPES, export
from .leads import lead_report
from .metrics import collect_metrics
from .usage import usage_report

__all__ = ["EXPORT_TYPES", "agent_comparison", "agent_report", "collect_metrics", "conversation_report", "dashboard",
           "date_range", "export", "lead_report", "usage_report"]

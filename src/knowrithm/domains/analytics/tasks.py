"""Housekeeping for the API-usage analytics."""
from __future__ import annotations

from celery import shared_task

from knowrithm.domains.auth.request_log import flush_requested
from knowrithm.infra.tasks import TaskRecord, enqueue

from . import reports
from .rollups import roll_up


@shared_task(name="knowrithm.maintenance.flush_api_request_logs")
def flush_api_request_logs() -> dict:
    """Drains the request-log buffer: asked by the API when it fills, and every minute for
    what a quiet server leaves behind (readers of the figures flush too)."""
    return {"flushed": flush_requested()}


@shared_task(name="knowrithm.analytics.collect_metrics")
def collect_metrics(company_id: str | None = None) -> dict:
    """A snapshot of the company's volumes, taken in the worker."""
    return reports.collect_metrics(company_id)


def queue_collect_metrics(company_id) -> TaskRecord:
    """`POST /system-metric`: the snapshot is taken in the worker; the caller gets the task."""
    return enqueue(collect_metrics, company_id=company_id)


@shared_task(name="knowrithm.maintenance.roll_up_request_logs")
def roll_up_request_logs() -> dict:
    """Hourly and daily request-log aggregates the API-usage charts read (analytics.rollups)."""
    return roll_up()

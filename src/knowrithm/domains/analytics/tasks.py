"""Housekeeping for the API-usage analytics."""
from __future__ import annotations

from celery import shared_task

from .request_log import flush


@shared_task(name="knowrithm.maintenance.flush_api_request_logs")
def flush_api_request_logs() -> dict:
    """Drains the request-log buffer on quiet servers (readers and the hook flush too)."""
    return {"flushed": flush()}


@shared_task(name="knowrithm.analytics.collect_metrics")
def collect_metrics(company_id: str | None = None) -> dict:
    """S1: a snapshot of the company's volumes, taken in the worker."""
    from .reports import collect_metrics as collect

    return collect(company_id)

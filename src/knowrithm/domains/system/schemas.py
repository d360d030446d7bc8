"""Answers of the health routes."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from knowrithm.infra.responses import Open


class HealthOut(Open):
    """200 when every dependency is healthy, 503 with the same report (and `failed`) otherwise."""

    status: Literal["healthy", "unhealthy"]
    service: str
    timestamp: datetime
    checks: dict[str, dict[str, Any]]
    failed: list[str] | None = None
    error: str | None = None
    message: str | None = None


class LivenessOut(Open):
    status: Literal["alive"]
    service: str

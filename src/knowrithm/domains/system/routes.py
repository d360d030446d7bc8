"""Utility routes: health, task status, the OpenAPI document and its interactive docs."""
from __future__ import annotations

from flask import Response, current_app, jsonify, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import SUPER_ADMIN, current_principal
from knowrithm.infra.errors import ApiError
from knowrithm.infra.openapi import build_spec
from knowrithm.infra.responses import TaskAccepted, TaskStatusOut

from . import health, service
from .schemas import HealthOut, LivenessOut

bp = ApiBlueprint("system", __name__, tag="system")


@bp.get("/health", response=HealthOut, also=(503,), summary="Health of the API and its dependencies")
def get_health():
    body, ok = health.report()
    return body, 200 if ok else 503


@bp.get("/health/live", response=LivenessOut, summary="Liveness: the process answers (no dependency is checked)")
def get_liveness():
    # For restart decisions (Kubernetes livenessProbe): an outage of PostgreSQL or Redis must take
    # nodes out of rotation (readiness, /health), not restart every API process in a loop.
    return {"status": "alive", "service": "knowrithm"}


@bp.get("/tasks/<task_id>/status", response=TaskStatusOut,
        summary="Status of a queued task (public: task ids are unguessable)")
def get_task_status(task_id: str):
    return service.task_status(task_id, reveal_error=_staff_of)


def _staff_of(company_id) -> bool:
    """Whether the caller may read a failed task's raw error (staff of the task's company).
    Anyone else holding the id (a widget visitor who sent a message) gets a plain message."""
    if company_id is None:  # platform tasks carry no company's data
        return True
    try:
        principal = current_principal(optional=True)
    except ApiError:
        return False
    if principal is None or principal.kind == "lead":
        return False
    return principal.is_super_admin or principal.company_id == company_id


@bp.post("/system/task-check", auth=SUPER_ADMIN, status=202, response=TaskAccepted,
         summary="Queue a round-trip task through the worker (deployment check)")
def post_task_check():
    return service.queue_roundtrip()


def openapi_json():
    return jsonify(build_spec(current_app.config["SETTINGS"].BASE_URL))


DOCS_HTML = """<!doctype html><html><head><title>Knowrithm API</title><meta charset="utf-8">
<link rel="stylesheet" href="/api/docs/static/swagger-ui.css"></head><body><div id="ui"></div>
<script src="/api/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/api/openapi.json", dom_id: "#ui", deepLinking: true});</script>
</body></html>"""


def docs_page():
    return Response(DOCS_HTML, mimetype="text/html")


def docs_static(filename: str):
    return send_from_directory(swagger_ui_path, filename)


def register_docs(app) -> None:
    """The spec and docs live at /api (not /api/v1): they describe every version's routes."""
    app.add_url_rule("/api/openapi.json", "openapi_json", openapi_json)
    app.add_url_rule("/api/docs", "docs_page", docs_page)
    app.add_url_rule("/api/docs/static/<path:filename>", "docs_static", docs_static)

"""docs/runbooks.md names only things that exist: its five scenarios, the alerts of
deploy/observability/alerts.yml, metric families the code exports, compose services and
Kubernetes Deployments, and `knowrithm` commands the CLI has."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = (REPO / "docs" / "runbooks.md").read_text()


@pytest.fixture(autouse=True)
def clean_db():
    """Static checks: no database."""
    yield


def test_the_five_scenarios_are_there():
    titles = re.findall(r"^## \d\. (.+)$", RUNBOOKS, re.M)
    assert titles == ["API latency spikes", "Stuck document ingestion", "Failed database connection",
                      "Elevated error rates", "Incident escalation"]


def test_alerts_and_metrics_exist():
    alerts = {rule["alert"] for group in yaml.safe_load((REPO / "deploy/observability/alerts.yml").read_text())
              ["groups"] for rule in group["rules"]}
    named = set(re.findall(r"`(Knowrithm[A-Za-z0-9]+)`", RUNBOOKS))
    assert named and named <= alerts, named - alerts
    source = "\n".join(p.read_text() for p in (REPO / "src").rglob("*.py"))
    metrics = set(re.findall(r"(knowrithm_[a-z_]+)", RUNBOOKS)) - {"knowrithm_session"}
    assert metrics
    for metric in metrics:
        assert metric.removesuffix("_bucket") in source, metric


def test_services_and_deployments_exist():
    compose = yaml.safe_load((REPO / "deploy/compose/docker-compose.yml").read_text())["services"]
    for service in set(re.findall(r"docker-compose (?:exec|logs|restart|ps)[^\n`]*?\b(app|db|redis|celery-worker-slow|"
                                  r"celery-worker|beat|migrate)\b", RUNBOOKS)):
        assert service in compose
    deployments = set()
    for path in (REPO / "deploy/k8s/base").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Deployment":
                deployments.add(doc["metadata"]["name"])
    named = set(re.findall(r"deploy/(knowrithm-[a-z-]+)", RUNBOOKS))
    assert named and named <= deployments, named - deployments


def test_knowrithm_commands_exist():
    from knowrithm.cli import main

    commands = set(re.findall(r"knowrithm ((?:tasks dead-letter (?:list|replay))|restore|backup|worker|"
                              r"secrets rotate|db upgrade)", RUNBOOKS))
    assert {"tasks dead-letter list", "tasks dead-letter replay"} <= commands
    for command in commands:
        result = CliRunner().invoke(main, [*command.split(), "--help"])
        assert result.exit_code == 0, (command, result.output)

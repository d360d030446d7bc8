"""deploy/observability: alert rules checked and unit-tested by promtool, configs valid, and
every metric the dashboard and the rules use is one the platform exports."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[2] / "deploy" / "observability"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="Debian's prometheus (promtool) is not installed")


def _run(*args, cwd=HERE) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


@needs_promtool
def test_rules_pass_promtool_check_and_unit_tests():
    assert "SUCCESS: 8 rules found" in _run(PROMTOOL, "check", "rules", "alerts.yml")
    assert "SUCCESS" in _run(PROMTOOL, "test", "rules", "alerts_test.yml", cwd=HERE / "tests")
    assert "SUCCESS" in _run(PROMTOOL, "check", "config", "--syntax-only", "prometheus.yml")


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool (prometheus-alertmanager) is not installed")
def test_alertmanager_example_is_valid():
    assert "SUCCESS" in _run(shutil.which("amtool"), "check-config", "alertmanager.yml")


def test_every_alert_has_a_unit_test():
    rules = set(re.findall(r"- alert: (\w+)", (HERE / "alerts.yml").read_text()))
    tested = set(re.findall(r"alertname: (\w+)", (HERE / "tests" / "alerts_test.yml").read_text()))
    assert rules and rules == tested


def test_dashboard_and_rules_use_exported_metrics(http, settings, monkeypatch):
    monkeypatch.setattr(settings, "METRICS_TOKEN", "t" * 32)
    exposition = http.get("/metrics", headers={"Authorization": "Bearer " + "t" * 32}).text
    exported = set(re.findall(r"^# TYPE (knowrithm_\w+)", exposition, re.M))
    dashboard = json.loads((HERE / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    titles = {p["title"] for p in dashboard["panels"] if p["type"] == "row"}
    assert titles == {"Application", "Workers", "Database", "Business"}
    used = set(re.findall(r"knowrithm_\w+", " ".join(exprs) + (HERE / "alerts.yml").read_text()))
    base = {re.sub(r"_(bucket|count|sum|total)$", "", name) for name in used}
    missing = {name for name in base if name not in exported and name + "_total" not in exported
               and re.sub(r"_total$", "", name) not in exported}
    assert not missing, f"used but not exported: {sorted(missing)}"

"""The deployment files are valid offline: the Dockerfile passes hadolint, every YAML file passes
yamllint, and every Kubernetes object (the base, and each overlay rendered) validates against the
Kubernetes schemas (kubernetes-validate, strict: unknown fields are errors).

kustomize itself is not installed here, so `render` applies what the overlays use (namespace,
images, replicas, strategic-merge patches of maps) the way kustomize does."""
from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def clean_db():
    """Static checks: no database."""
    yield


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "nginx/Dockerfile"])
def test_dockerfile_passes_hadolint(dockerfile):
    done = subprocess.run([str(BIN / "hadolint"), "--config", str(DEPLOY / ".hadolint.yaml"),
                           str(DEPLOY / dockerfile)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_is_multi_stage_non_root_with_healthcheck_and_tesseract():
    text = (DEPLOY / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert lines[0].startswith("ARG BASE_IMAGE=")
    assert sum(line.startswith("FROM ${BASE_IMAGE}") for line in lines) == 2
    assert [line for line in lines if line.startswith("USER ")][-1] == "USER 10001:10001"
    assert any(line.startswith("HEALTHCHECK ") for line in lines)
    assert "tesseract-ocr" in text and "COPY --from=build /opt/venv" in text


def test_yaml_files_pass_yamllint():
    files = sorted(str(p) for p in DEPLOY.rglob("*.yml")) + sorted(str(p) for p in DEPLOY.rglob("*.yaml"))
    assert len(files) > 10
    done = subprocess.run([str(BIN / "yamllint"), "-s", "-c", str(DEPLOY / ".yamllint"), *files],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def merge(base, patch):
    """Strategic merge as far as maps go (lists are replaced, as kustomize does for unkeyed lists)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(patch)


def render(directory: Path) -> list[dict]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects: list[dict] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        objects += render(path) if path.is_dir() else load_all(path)
    for patch_ref in kustomization.get("patches", []):
        for patch in load_all(directory / patch_ref["path"]):
            targets = [i for i, o in enumerate(objects)
                       if o["kind"] == patch["kind"] and o["metadata"]["name"] == patch["metadata"]["name"]]
            assert targets, f"patch {patch_ref['path']} matches no object"
            for i in targets:
                objects[i] = merge(objects[i], patch)
    for item in kustomization.get("replicas", []):
        matches = [o for o in objects if o["metadata"]["name"] == item["name"] and "replicas" in o.get("spec", {})]
        assert matches, f"replicas for unknown {item['name']}"
        for o in matches:
            o["spec"]["replicas"] = item["count"]
    for image in kustomization.get("images", []):
        for o in objects:
            for c in o.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                if c["image"].split(":")[0] == image["name"]:
                    c["image"] = f"{image.get('newName', image['name'])}:{image.get('newTag', 'latest')}"
    if "namespace" in kustomization:
        for o in objects:
            if o["kind"] != "Namespace":
                o["metadata"]["namespace"] = kustomization["namespace"]
    labels = {k: v for entry in kustomization.get("labels", []) for k, v in entry["pairs"].items()}
    for o in objects:
        o["metadata"].setdefault("labels", {}).update(labels)
    return objects


def validate(objects: list[dict]) -> None:
    import kubernetes_validate

    for o in objects:
        kubernetes_validate.validate(o, "1.30.0", strict=True)


OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())


@pytest.mark.parametrize("target", ["base", *(f"overlays/{name}" for name in OVERLAYS)])
def test_kubernetes_manifests_validate_against_the_schemas(target):
    objects = render(K8S / target)
    validate(objects)
    names = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(names) == len(set(names)), "duplicate objects"


def test_kubernetes_base_has_what_production_needs():
    objects = render(K8S / "base")
    by_kind: dict[str, dict[str, dict]] = {}
    for o in objects:
        by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
    deployments = by_kind["Deployment"]
    assert set(deployments) == {"knowrithm-api", "knowrithm-worker-chat", "knowrithm-worker-ingest", "knowrithm-beat"}
    beat = deployments["knowrithm-beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"]["type"] == "Recreate"
    queues = {name: " ".join(d["spec"]["template"]["spec"]["containers"][0]["args"]) for name, d in deployments.items()}
    assert "critical,default" in queues["knowrithm-worker-chat"] and "slow,low" in queues["knowrithm-worker-ingest"]
    assert set(by_kind["StatefulSet"]) == {"knowrithm-postgres", "knowrithm-redis"}
    assert "knowrithm-migrate" in by_kind["Job"]
    scaled = {h["spec"]["scaleTargetRef"]["name"]: {m["resource"]["name"] for m in h["spec"]["metrics"]}
              for h in by_kind["HorizontalPodAutoscaler"].values()}
    assert scaled == {name: {"cpu", "memory"} for name in
                      ("knowrithm-api", "knowrithm-worker-chat", "knowrithm-worker-ingest")}
    assert set(by_kind["PodDisruptionBudget"]) == set(scaled)
    assert set(by_kind["PersistentVolumeClaim"]) == {"knowrithm-uploads", "knowrithm-logs", "knowrithm-backups"}
    assert "knowrithm-config" in by_kind["ConfigMap"] and "knowrithm-secrets" in by_kind["Secret"]
    # Every claim is mounted where it is written: the nightly backup runs on the worker that
    # consumes `low` (worker.TASK_ROUTES), into BACKUP_DIR.
    backup_dir = by_kind["ConfigMap"]["knowrithm-config"]["data"]["BACKUP_DIR"]
    from knowrithm.worker import TASK_ROUTES

    assert TASK_ROUTES["knowrithm.maintenance.*"]["queue"] == "low"
    mounts = {(name, c_mount["mountPath"], v["persistentVolumeClaim"]["claimName"])
              for name, d in deployments.items() for c in d["spec"]["template"]["spec"]["containers"]
              for c_mount in c.get("volumeMounts", []) for v in d["spec"]["template"]["spec"].get("volumes", [])
              if v["name"] == c_mount["name"] and "persistentVolumeClaim" in v}
    assert ("knowrithm-worker-ingest", backup_dir, "knowrithm-backups") in mounts
    assert {claim for _, _, claim in mounts} == set(by_kind["PersistentVolumeClaim"])
    api = deployments["knowrithm-api"]["spec"]["template"]["spec"]
    container = api["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    # Long enough for the preStop pause plus gunicorn's graceful timeout (streams are told to leave).
    # (read, not imported: importing the gunicorn settings would monkey-patch this test process)
    conf = (REPO / "src" / "knowrithm" / "gunicorn_conf.py").read_text()
    graceful = int(re.search(r"^graceful_timeout = (\d+)", conf, re.M).group(1))
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert api["terminationGracePeriodSeconds"] > pre_stop + graceful
    for name, deployment in deployments.items():
        for c in deployment["spec"]["template"]["spec"]["containers"]:
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and set(c["resources"]["limits"]), name
            assert c.get("livenessProbe"), name
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True

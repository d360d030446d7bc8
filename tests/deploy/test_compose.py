"""The guide's Docker Compose path, for real (runs whenever dockerd is available; scripts/test.sh
installs docker.io and docker-compose and starts dockerd when it runs as root):

    cp .env.example .env && docker-compose up -d && docker-compose exec app flask db upgrade
    curl http://localhost:8543/health

The image is built from a Debian base made with debootstrap (no registry here), and the db and
redis services use the Knowrithm image's `postgres` and `redis-server` roles. A knowrithm-py
client then registers, uploads a document and gets a cited answer. The optional `nginx` profile
is started too (its image built from deploy/nginx/Dockerfile on the same base, a self-signed
certificate made here): `/health` answers over HTTPS through it, with HSTS. `docker-compose down -v`
leaves no container and no volume behind.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.deploy import client_flow

REPO = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO / "deploy" / "compose"
BASE_IMAGE = "local/debian:bookworm"
IMAGE = "knowrithm:test"
NGINX_IMAGE = "knowrithm-nginx:test"


@pytest.fixture(autouse=True)
def clean_db():
    """This test talks only to its own containers."""
    yield


def docker_available() -> str | None:
    """None when docker can be used, else why not."""
    for tool in ("docker", "docker-compose", "debootstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/test.sh installs it when run as root)"
    done = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        return f"dockerd is not running: {done.stderr.strip()[:200]}"
    return None


def run(args: list[str], timeout: float, env=None, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, cwd=COMPOSE_DIR)
    if check:
        assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def host_port(preferred: int | None = 8543) -> int:
    """8543 as the guide says, unless something on this machine already listens there."""
    if preferred:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", preferred)) != 0:
                return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(1200)
def test_the_guides_compose_path(tmp_path):
    reason = docker_available()
    if reason:
        pytest.skip(reason)
    # 1. the images: a registry-free base, then the Knowrithm image on it (layers are cached
    #    between runs, so only changed code is rebuilt).
    run(["bash", str(REPO / "deploy" / "docker" / "build-offline-base.sh"), BASE_IMAGE], timeout=600)
    run(["docker", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
         "-f", str(REPO / "deploy" / "Dockerfile"), "-t", IMAGE, str(REPO)], timeout=900)
    run(["docker", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
         "-t", NGINX_IMAGE, str(REPO / "deploy" / "nginx")], timeout=600)
    certs = tmp_path / "certs"
    certs.mkdir()
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(certs / "tls.key"), "-out", str(certs / "tls.crt")],
        timeout=60)
    (certs / "tls.key").chmod(0o644)  # read by nginx's master in the container

    # 2. cp .env.example .env (kept outside the checkout), pointed at the local images.
    port, https_port, plain_port = host_port(), host_port(None), host_port(None)
    env_file = tmp_path / ".env"
    overrides = {"KNOWRITHM_IMAGE": IMAGE, "DB_IMAGE": IMAGE, "REDIS_IMAGE": IMAGE, "HTTP_PORT": str(port),
                 "BASE_URL": f"http://localhost:{port}", "NGINX_IMAGE": NGINX_IMAGE, "HTTPS_PORT": str(https_port),
                 "PLAIN_HTTP_PORT": str(plain_port), "TLS_CERTS_DIR": str(certs)}
    lines = []
    for line in (COMPOSE_DIR / ".env.example").read_text().splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={overrides.pop(name)}" if name in overrides else line)
    env_file.write_text("\n".join(lines + [f"{k}={v}" for k, v in overrides.items()]) + "\n")
    project = f"knowrithm-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "KNOWRITHM_ENV_FILE": str(env_file), "COMPOSE_PROJECT_NAME": project}
    compose = ["docker-compose", "--env-file", str(env_file)]
    try:
        run([*compose, "up", "-d"], timeout=600, env=env)
        # 3. the migration as the guide runs it (the one-shot migrate service already applied it).
        run([*compose, "exec", "-T", "app", "flask", "db", "upgrade"], timeout=300, env=env)
        # 4. curl http://localhost:8543/health
        url = f"http://localhost:{port}"
        deadline, body = time.time() + 300, {}
        while time.time() < deadline:
            try:
                resp = requests.get(f"{url}/health", timeout=5)
                body = resp.json()
                if resp.status_code == 200:
                    break
            except (requests.RequestException, ValueError):
                pass
            time.sleep(2)
        logs = lambda: run([*compose, "logs", "--tail", "40"], timeout=120, env=env, check=False).stdout  # noqa: E731
        assert body.get("status") == "healthy", f"{body}\n{logs()[-6000:]}"
        assert body["checks"]["worker"]["workers"] >= 2  # both worker services are live

        # 5. a knowrithm-py client registers, uploads a document and gets a cited answer.
        client = client_flow.register(url)
        agent_id = client_flow.create_agent(client)
        doc_id = client_flow.upload(client, agent_id, tmp_path / "policy.md")
        assert client_flow.wait_processed(client, doc_id)["status"] == "processed", logs()[-6000:]
        client_flow.assert_cited_answer(client_flow.ask(client, agent_id, "How long do refunds take?"))

        # Backups land in the `backups` volume (BACKUP_DIR) from the worker that runs the nightly
        # one, and every Knowrithm container sees them (`knowrithm restore` may run in any).
        made = run([*compose, "exec", "-T", "celery-worker-slow", "knowrithm", "backup"], timeout=300, env=env)
        location = made.stdout.split("backup ", 1)[1].split(" ", 1)[0]
        assert location.startswith("/app/data/backups/"), made.stdout
        listed = run([*compose, "exec", "-T", "app", "ls", location], timeout=120, env=env).stdout.split()
        assert {"manifest.json", "database.dump"} <= set(listed), listed

        states = run([*compose, "ps"], timeout=120, env=env).stdout
        assert "Exit 0" in states.split("migrate", 1)[1].splitlines()[0], states  # the one-shot ran once, fine

        # The optional TLS front: HTTPS through nginx (certificate checked), HSTS on the answer,
        # and plain HTTP redirected except /health.
        run([*compose, "--profile", "nginx", "up", "-d", "nginx"], timeout=300, env=env)
        deadline, resp = time.time() + 120, None
        while time.time() < deadline:
            try:
                resp = requests.get(f"https://localhost:{https_port}/health", verify=str(certs / "tls.crt"), timeout=5)
                if resp.status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        assert resp is not None and resp.status_code == 200, logs()[-6000:]
        assert resp.json()["status"] == "healthy"
        assert resp.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        plain = requests.get(f"http://localhost:{plain_port}/api/v1/agent", allow_redirects=False, timeout=10)
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
    finally:
        # 6. docker-compose down -v leaves nothing running and no volume behind.
        run([*compose, "--profile", "nginx", "down", "-v", "--remove-orphans"], timeout=300, env=env, check=False)
    label = f"label=com.docker.compose.project={project}"
    assert run(["docker", "ps", "-aq", "--filter", label], timeout=60).stdout.strip() == ""
    assert run(["docker", "volume", "ls", "-q", "--filter", label], timeout=60).stdout.strip() == ""

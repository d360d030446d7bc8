"""The image's HEALTHCHECK: checks whatever role the entrypoint started (/tmp/knowrithm-role).

api       GET /health answers 200 (database, Redis and a live worker; see domains/system/health.py)
worker    this container's worker refreshed its heartbeat in Redis within the last 30 s
postgres  the server accepts a query on its local socket
others    the role's process is running (the container would have exited otherwise)
"""
import os
import socket
import subprocess
import sys
import time
import urllib.request


def main() -> int:
    try:
        with open("/tmp/knowrithm-role") as f:
            role = f.read().strip()
    except OSError:
        return 1
    if role == "api":
        port = os.environ.get("PORT", "8543")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=4) as resp:
                return 0 if resp.status == 200 else 1
        except OSError:
            return 1
    if role == "worker":
        import redis

        from knowrithm.domains.system.health import WORKER_STALE_SECONDS, WORKERS_KEY

        client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://redis:6379/0"), socket_timeout=3)
        host = socket.gethostname()
        fresh = client.zrangebyscore(WORKERS_KEY, time.time() - WORKER_STALE_SECONDS, "+inf")
        return 0 if any(m.decode().endswith("@" + host) for m in fresh) else 1
    if role == "postgres":
        import pgserver._commands as pg

        user = os.environ.get("POSTGRES_USER", "postgres")
        done = subprocess.run([str(pg.POSTGRES_BIN_PATH / "pg_isready"), "-h", "/tmp", "-U", user],
                              capture_output=True, timeout=4)
        return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Upgrading to the session rollups cuts the usage rollups back to where the request logs still
have rows, so the next beat runs roll all three rollup tables up over the same hours; usage rows
older than the oldest request log (whose raw rows are gone) stay."""
import subprocess
import sys
from pathlib import Path

from tests.test_cli_up import clean_env, external_database  # noqa: F401  (the fixture)

REPO = Path(__file__).resolve().parents[2]


def _flask_upgrade(env, *revision):
    done = subprocess.run([sys.executable, "-m", "flask", "db", "upgrade", *revision], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]


def test_upgrade_cuts_usage_rollups_back_to_the_oldest_request_log(external_database, redis_url):  # noqa: F811
    import psycopg

    uri, name, socket_dir = external_database
    env = {**clean_env(), "SQLALCHEMY_DATABASE_URI": uri, "REDIS_URL": redis_url, "LOG_JSON": "false"}
    env.pop("FLASK_APP", None)
    _flask_upgrade(env, "i12_request_logs")
    rollup = ("INSERT INTO api_usage_rollups (id, granularity, period_start, method, endpoint, requests, errors,"
              " total_ms, max_ms) VALUES (gen_random_uuid(), %s, %s::timestamptz, 'GET', '/x', 1, 0, 1, 1)")
    with psycopg.connect(dbname=name, user="postgres", host=socket_dir) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        # The oldest request log still kept: 2026-11-10 14:20 (older ones were purged).
        conn.execute("INSERT INTO api_request_logs (id, method, endpoint, status_code, response_time_ms, created_at)"
                     " VALUES (gen_random_uuid(), 'GET', '/x', 200, 1, '2026-11-10 14:20:00+00')")
        for granularity, start in [("hour", "2026-11-10 13:00"), ("hour", "2026-11-10 14:00"),
                                   ("hour", "2026-11-11 09:00"), ("day", "2026-11-09 00:00"),
                                   ("day", "2026-11-10 00:00")]:
            conn.execute(rollup, (granularity, start + "+00"))
    _flask_upgrade(env)
    with psycopg.connect(dbname=name, user="postgres", host=socket_dir) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        kept = conn.execute("SELECT granularity, to_char(period_start, 'YYYY-MM-DD HH24:MI') FROM api_usage_rollups"
                            " ORDER BY 1, 2").fetchall()
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] != "i12_request_logs"
        assert conn.execute("SELECT count(*) FROM session_rollups").fetchone()[0] == 0
    assert kept == [("day", "2026-11-09 00:00"), ("hour", "2026-11-10 13:00")]

"""Backups: the restore drill (create, back up, destroy, restore, compare), refusals that leave
the database untouched, S3 as a destination, the nightly job and Redis's append-only file."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import _wait_for_idle_worker
from tests.conversations.test_answers import _agent_with_policy


def _env(settings, **extra) -> dict:
    return {"SQLALCHEMY_DATABASE_URI": settings.SQLALCHEMY_DATABASE_URI, "REDIS_URL": settings.REDIS_URL,
            "UPLOAD_FOLDER": settings.UPLOAD_FOLDER, "LOG_JSON": "false", **extra}


def _cli(settings, *args, **extra):
    from knowrithm.cli import main

    return CliRunner().invoke(main, list(args), env=_env(settings, **extra))


def _state(settings) -> dict[str, int]:
    from knowrithm.domains.lifecycle.backup import database_state

    return database_state(settings)[1]


def _files(folder) -> dict[str, bytes]:
    root = Path(folder)
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _search(sdk, agent_id) -> list[str]:
    hits = sdk._make_request("POST", "/search/document", data={"query": "refunds returned item", "agent_id":
                                                                str(agent_id), "limit": 5})
    return [r["chunk_id"] for r in hits["results"]]


def _destroy(app, settings) -> None:
    """Drops the whole database and the upload folder (what a lost disk does)."""
    from knowrithm.infra.db import db

    _wait_for_idle_worker(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    url = make_url(settings.SQLALCHEMY_DATABASE_URI)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{url.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()
    shutil.rmtree(settings.UPLOAD_FOLDER)


def _reconnect(app) -> None:
    from knowrithm.infra.db import db

    with app.app_context():
        db.engine.dispose()


def test_restore_drill(app, settings, companies, sdk_a, celery_worker, tmp_path):
    agent_id = _agent_with_policy(app, companies[0], sdk_a, tmp_path)
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    assert sdk_a.messages.send_message(conv_id, "How long do refunds take?")["answered"] is True
    counts, files, chunks = _state(settings), _files(settings.UPLOAD_FOLDER), _search(sdk_a, agent_id)
    assert counts["document_chunks"] > 0 and counts["messages"] == 2 and chunks and files

    made = _cli(settings, "backup", "--to", str(tmp_path / "backups"))
    assert made.exit_code == 0, made.output
    [backup] = list((tmp_path / "backups").iterdir())
    manifest = json.loads((backup / "manifest.json").read_text())
    assert set(manifest["files"]) == {"database.dump", "uploads.tar.gz"} and manifest["row_counts"] == counts

    _destroy(app, settings)
    assert not Path(settings.UPLOAD_FOLDER).exists()
    restored = _cli(settings, "restore", str(backup))
    _reconnect(app)
    assert restored.exit_code == 0, restored.output
    assert "counts match the manifest" in restored.output

    assert _state(settings) == counts
    assert _files(settings.UPLOAD_FOLDER) == files
    assert _search(sdk_a, agent_id) == chunks
    again = sdk_a.messages.send_message(conv_id, "How long do refunds take?")
    assert again["answered"] is True and "five business days" in again["content"]
    cited = again["metadata"]["cited_sources"]
    assert cited and next(s for s in again["sources"] if s["source_number"] == cited[0])["document_name"]


def _tamper(backup: Path, how: str) -> None:
    manifest = json.loads((backup / "manifest.json").read_text())
    dump = backup / "database.dump"
    if how == "corrupt":
        data = bytearray(dump.read_bytes())
        data[len(data) // 2] ^= 0xFF
        dump.write_bytes(bytes(data))
    elif how == "schema":
        manifest["schema_version"] = "0001"
    elif how == "truncated":  # checksums made to match: only the restore itself can notice
        from knowrithm.domains.lifecycle.backup import _sha256

        dump.write_bytes(dump.read_bytes()[: dump.stat().st_size * 2 // 3])
        manifest["files"]["database.dump"] = {"sha256": _sha256(dump), "size": dump.stat().st_size}
    (backup / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("how, message", [("corrupt", "checksum mismatch for database.dump"),
                                          ("schema", "schema version mismatch"),
                                          ("truncated", "pg_restore failed")])
def test_a_bad_backup_is_refused_and_nothing_changes(app, settings, companies, agent_ids, tmp_path, how, message):
    made = _cli(settings, "backup", "--to", str(tmp_path))
    assert made.exit_code == 0, made.output
    [backup] = [p for p in tmp_path.iterdir() if p.name.startswith("knowrithm-")]
    _tamper(backup, how)
    # Changes made after the backup must survive the refused restore.
    from knowrithm.domains.agents.models import Agent
    from knowrithm.infra.db import db

    with app.app_context():
        db.session.add(Agent(company_id=companies[0].company_id, name="made after the backup"))
        db.session.commit()
        db.session.remove()
    Path(settings.UPLOAD_FOLDER, "after-backup.txt").write_text("kept")
    counts, files = _state(settings), _files(settings.UPLOAD_FOLDER)

    refused = _cli(settings, "restore", str(backup))
    _reconnect(app)
    assert refused.exit_code == 1 and message in refused.output and "not changed" in refused.output
    assert _state(settings) == counts
    assert _files(settings.UPLOAD_FOLDER) == files


def test_backup_to_s3_and_restore_from_it(app, settings, companies, agent_ids):
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = {"S3_ENDPOINT_URL": f"http://{host}:{port}", "S3_ACCESS_KEY_ID": "test", "S3_SECRET_ACCESS_KEY": "test"}
        client = boto3.client("s3", endpoint_url=s3["S3_ENDPOINT_URL"], region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test")
        client.create_bucket(Bucket="backups")
        made = _cli(settings, "backup", "--to", "s3://backups/nightly", **s3)
        assert made.exit_code == 0, made.output
        keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket="backups")["Contents"])
        assert [k.rsplit("/", 1)[1] for k in keys] == ["database.dump", "manifest.json", "uploads.tar.gz"]
        location = "s3://backups/" + keys[0].rsplit("/", 1)[0]
        counts = _state(settings)
        restored = _cli(settings, "restore", location, **s3)
        _reconnect(app)
        assert restored.exit_code == 0, restored.output
        assert _state(settings) == counts
    finally:
        server.stop()


def test_nightly_backup_keeps_backup_retention_days(app, settings, tmp_path, monkeypatch):
    from knowrithm.domains.lifecycle import tasks

    with app.app_context():
        assert tasks.nightly_backup.run() == {"skipped": "BACKUP_DIR is not set"}
    stale = tmp_path / "knowrithm-20200101T000000Z"
    stale.mkdir()
    unrelated = tmp_path / "knowrithm-notes"
    unrelated.mkdir()
    monkeypatch.setattr(settings, "BACKUP_DIR", str(tmp_path))
    with app.app_context():
        result = tasks.nightly_backup.run()
    assert result["pruned"] == [str(stale)] and unrelated.exists()
    assert Path(result["location"], "manifest.json").is_file()


def test_embedded_redis_keeps_its_append_only_file(tmp_path):
    import redis

    from knowrithm.infra.embedded import EmbeddedRedis

    first = EmbeddedRedis(tmp_path / "redis")
    client = redis.Redis.from_url(first.start())
    client.set("knowrithm:probe", "kept")
    first.stop()
    assert any((tmp_path / "redis").rglob("*.aof")), "no append-only file written"
    second = EmbeddedRedis(tmp_path / "redis")
    assert redis.Redis.from_url(second.start()).get("knowrithm:probe") == b"kept"
    second.stop()

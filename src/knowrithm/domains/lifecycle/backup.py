"""Backups and restore (`knowrithm backup`, `knowrithm restore`; README "Backups and restore").

A backup is a folder `knowrithm-<UTC time>/` holding:
- `database.dump`: `pg_dump` in custom format (one consistent snapshot of the database);
- `uploads.tar.gz`: the upload folder (local storage; S3 uploads rely on bucket versioning);
- `manifest.json`: the format, the schema version (Alembic revision), SHA-256 and size of each
  file, and the row count of every table (what a restore drill compares).
It goes to a directory or to S3 (`s3://bucket/prefix`, with the S3_* credentials).

A restore verifies everything before it touches anything: each checksum, and that the backup's
schema version is the one this code migrates to. `pg_restore` then runs as one transaction, so
a dump that fails half-way leaves the database as it was; the uploads are unpacked beside the
upload folder and swapped in only after the database restore succeeded.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pgserver._commands import POSTGRES_BIN_PATH
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

FORMAT = 1
DUMP, UPLOADS, MANIFEST = "database.dump", "uploads.tar.gz", "manifest.json"
PREFIX = "knowrithm-"
STAMP = "%Y%m%dT%H%M%SZ"


class BackupError(Exception):
    """A backup could not be made, or a restore was refused (the message says why)."""


# --- tools and connections --------------------------------------------------------------------

def pg_tool(name: str, settings) -> str:
    """pg_dump/pg_restore: PG_BIN_DIR, else the embedded PostgreSQL's own, else PATH. The embedded
    server's tools match its version; pg_dump refuses a server newer than itself."""
    candidates = []
    if settings.PG_BIN_DIR:
        candidates.append(Path(settings.PG_BIN_DIR) / name)
    candidates.append(Path(POSTGRES_BIN_PATH) / name)
    for path in candidates:
        if path.is_file():
            return str(path)
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} not found: install the PostgreSQL client tools or set PG_BIN_DIR")
    return found


def _libpq(settings) -> tuple[str, dict]:
    """The database URL as libpq understands it, with the password in the environment (not argv)."""
    url = make_url(settings.SQLALCHEMY_DATABASE_URI)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _run(args: list[str], env: dict) -> None:
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {proc.stderr.strip()[-2000:]}")


def _engine(settings):
    uri = settings.SQLALCHEMY_DATABASE_URI
    for prefix in ("postgres://", "postgresql://"):
        if uri.startswith(prefix):
            uri = "postgresql+psycopg://" + uri[len(prefix):]
    return create_engine(uri, poolclass=NullPool)


def database_state(settings) -> tuple[str | None, dict[str, int]]:
    """The schema version and the row count of every table."""
    engine = _engine(settings)
    try:
        with engine.connect() as conn:
            tables = conn.execute(text("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                                       "current_schema() AND table_type = 'BASE TABLE' ORDER BY 1")).scalars().all()
            counts = {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar() \
                if "alembic_version" in tables else None
    finally:
        engine.dispose()
    return version, counts


def code_schema_version() -> str:
    """The revision this code's migrations lead to (what a restored database must be at)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from knowrithm.app import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", MIGRATIONS_DIR)
    heads = ScriptDirectory.from_config(config).get_heads()
    return heads[0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for piece in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(piece)
    return digest.hexdigest()


# --- making a backup -----------------------------------------------------------------------------

def create_backup(settings, destination: str) -> dict:
    """Writes a backup to `destination` (a directory or s3://bucket/prefix); returns its manifest."""
    now = datetime.now(timezone.utc)
    name = PREFIX + now.strftime(STAMP)
    with tempfile.TemporaryDirectory(prefix="knowrithm-backup-") as tmp:
        work = Path(tmp) / name
        work.mkdir()
        dsn, env = _libpq(settings)
        version, counts = database_state(settings)
        _run([pg_tool("pg_dump", settings), "--format=custom", "--no-owner", "--no-privileges",
              f"--file={work / DUMP}", dsn], env)
        uploads = _archive_uploads(settings, work / UPLOADS)
        files = {n: {"sha256": _sha256(work / n), "size": (work / n).stat().st_size}
                 for n in (DUMP, UPLOADS) if (work / n).exists()}
        manifest = {"format": FORMAT, "name": name, "created_at": now.isoformat(), "schema_version": version,
                    "uploads": uploads, "files": files, "row_counts": counts}
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2))
        manifest["location"] = _store(settings, work, destination)
    return manifest


def _archive_uploads(settings, target: Path) -> str:
    if (settings.STORAGE_BACKEND or "local").lower() != "local":
        return "s3 (not archived: protect the bucket with versioning)"
    folder = Path(settings.UPLOAD_FOLDER)
    with tarfile.open(target, "w:gz", compresslevel=6) as tar:
        if folder.is_dir():
            tar.add(folder, arcname="uploads")
    return "archived"


def _s3(settings):
    import boto3

    return boto3.client("s3", endpoint_url=settings.S3_ENDPOINT_URL, region_name=settings.S3_REGION,
                        aws_access_key_id=settings.S3_ACCESS_KEY_ID,
                        aws_secret_access_key=settings.S3_SECRET_ACCESS_KEY)


def _split_s3(location: str) -> tuple[str, str]:
    bucket, _, prefix = location[len("s3://"):].partition("/")
    return bucket, prefix.strip("/")


def _store(settings, work: Path, destination: str) -> str:
    if destination.startswith("s3://"):
        bucket, prefix = _split_s3(destination)
        client = _s3(settings)
        for path in work.iterdir():
            client.upload_file(str(path), bucket, "/".join(p for p in (prefix, work.name, path.name) if p))
        return f"s3://{bucket}/{'/'.join(p for p in (prefix, work.name) if p)}"
    target = Path(destination) / work.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(work, target)
    return str(target)


def prune_backups(settings, destination: str, keep_days: int) -> list[str]:
    """Removes this platform's backups older than `keep_days` from `destination`."""
    cutoff = datetime.now(timezone.utc) - timedelta(days=keep_days)

    def old(name: str) -> bool:
        try:
            return datetime.strptime(name[len(PREFIX):], STAMP).replace(tzinfo=timezone.utc) < cutoff
        except ValueError:
            return False  # not one of ours

    removed = []
    if destination.startswith("s3://"):
        bucket, prefix = _split_s3(destination)
        client = _s3(settings)
        base = f"{prefix}/" if prefix else ""
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
            doomed = [o["Key"] for o in page.get("Contents", []) if old(o["Key"][len(base):].split("/", 1)[0])]
            if doomed:
                client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in doomed]})
                removed += doomed
        return removed
    folder = Path(destination)
    for path in sorted(folder.glob(PREFIX + "*")) if folder.is_dir() else []:
        if path.is_dir() and old(path.name):
            shutil.rmtree(path)
            removed.append(str(path))
    return removed


# --- restoring ------------------------------------------------------------------------------------

def verify(folder: Path) -> dict:
    """The manifest of a complete, intact backup made by this schema version; BackupError otherwise."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{folder} is not a readable backup: no valid {MANIFEST} ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unsupported backup format {manifest.get('format')!r} (this version reads {FORMAT})")
    if DUMP not in manifest.get("files", {}):
        raise BackupError(f"the manifest lists no {DUMP}")
    for name, meta in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            raise BackupError(f"{name} is missing from the backup")
        if path.stat().st_size != meta["size"] or _sha256(path) != meta["sha256"]:
            raise BackupError(f"checksum mismatch for {name}: the backup is corrupt")
    expected = code_schema_version()
    if manifest.get("schema_version") != expected:
        raise BackupError(f"schema version mismatch: the backup is at {manifest.get('schema_version')!r}, this "
                          f"code expects {expected!r}; restore with the matching Knowrithm version")
    return manifest


def restore_backup(settings, source: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="knowrithm-restore-") as tmp:
        folder = _fetch(settings, source, Path(tmp)) if source.startswith("s3://") else Path(source)
        manifest = verify(folder)
        staged = _stage_uploads(settings, folder, manifest)
        dsn, env = _libpq(settings)
        try:
            _run([pg_tool("pg_restore", settings), "--clean", "--if-exists", "--no-owner", "--no-privileges",
                  "--single-transaction", "--exit-on-error", f"--dbname={dsn}", str(folder / DUMP)], env)
        except BackupError:
            if staged:
                shutil.rmtree(staged, ignore_errors=True)
            raise
        if staged:
            _swap_uploads(settings, staged)
    _invalidate_read_caches(settings)
    version, counts = database_state(settings)
    return {"name": manifest["name"], "schema_version": version, "row_counts": counts,
            "matches_manifest": counts == manifest.get("row_counts")}


def _invalidate_read_caches(settings) -> None:
    """A running platform's processes serve some reads from memory (infra/read_cache.py)."""
    import redis

    from knowrithm.infra import read_cache

    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
    try:
        read_cache.bump_all(client)
    finally:
        client.close()


def _fetch(settings, source: str, into: Path) -> Path:
    bucket, prefix = _split_s3(source)
    client = _s3(settings)
    folder = into / (prefix.rsplit("/", 1)[-1] or "backup")
    folder.mkdir(parents=True)
    for name in (MANIFEST, DUMP, UPLOADS):
        try:
            client.download_file(bucket, f"{prefix}/{name}", str(folder / name))
        except Exception:  # noqa: BLE001 - verify() names what is missing
            log.warning("could not download %s from %s", name, source)
    return folder


def _stage_uploads(settings, folder: Path, manifest: dict) -> Path | None:
    if UPLOADS not in manifest["files"] or (settings.STORAGE_BACKEND or "local").lower() != "local":
        return None
    target = Path(settings.UPLOAD_FOLDER).resolve()
    staged = Path(tempfile.mkdtemp(prefix=".restore-", dir=target.parent if target.parent.exists() else None))
    with tarfile.open(folder / UPLOADS, "r:gz") as tar:
        tar.extractall(staged, filter="data")  # refuses absolute paths, `..` and links out of the folder
    return staged


def _swap_uploads(settings, staged: Path) -> None:
    target = Path(settings.UPLOAD_FOLDER).resolve()
    restored = staged / "uploads"
    if not restored.is_dir():
        restored.mkdir()
    previous = target.with_name(target.name + ".before-restore")
    shutil.rmtree(previous, ignore_errors=True)
    if target.exists():
        target.rename(previous)
    shutil.move(str(restored), str(target))
    shutil.rmtree(previous, ignore_errors=True)
    shutil.rmtree(staged, ignore_errors=True)

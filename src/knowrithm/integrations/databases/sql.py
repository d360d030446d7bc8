"""PostgreSQL (and CockroachDB), MySQL/MariaDB, SQL Server and SQLite connectors."""
from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from .base import ConnectorError, SQLAlchemyConnector, register


@register
class PostgresConnector(SQLAlchemyConnector):
    type = "postgresql"
    aliases = ("postgres", "cockroachdb", "psql")
    sqlglot_dialect = "postgres"
    driver_scheme = "postgresql+psycopg"

    def connect_args(self) -> dict:
        return {"connect_timeout": 10}

    def read_only_setup(self, conn, timeout_seconds: int) -> None:
        conn.execute(text("SET TRANSACTION READ ONLY"))
        conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout_seconds * 1000)}"))

    def schemas(self, inspector) -> list[str | None]:
        wanted = self.params.get("schemas")
        if wanted:
            return list(wanted)
        return [s for s in inspector.get_schema_names()
                if s not in ("information_schema", "pg_catalog", "pg_toast") and not s.startswith("pg_")]


@register
class MySQLConnector(SQLAlchemyConnector):
    type = "mysql"
    aliases = ("mariadb",)
    sqlglot_dialect = "mysql"
    driver_scheme = "mysql+pymysql"

    def connect_args(self) -> dict:
        return {"connect_timeout": 10, "read_timeout": 60}

    def read_only_setup(self, conn, timeout_seconds: int) -> None:
        conn.execute(text("SET SESSION TRANSACTION READ ONLY"))
        try:  # MySQL spells the limit max_execution_time (ms), MariaDB max_statement_time (s)
            conn.execute(text(f"SET SESSION max_statement_time = {int(timeout_seconds)}"))
        except Exception:  # noqa: BLE001
            conn.execute(text(f"SET SESSION max_execution_time = {int(timeout_seconds * 1000)}"))


@register
class SQLServerConnector(SQLAlchemyConnector):
    """Microsoft SQL Server (and Azure SQL) through pymssql. SQL Server has no read-only
    transaction mode: besides the validator, give the platform a login with only `db_datareader`.
    The query timeout is the driver's (`timeout`, seconds) and locks are waited for at most as long."""

    type = "mssql"
    aliases = ("sqlserver", "sql_server", "microsoft_sql_server", "azure_sql")
    sqlglot_dialect = "tsql"
    driver_scheme = "mssql+pymssql"

    def __init__(self, url: str, params: dict, *, allow_private: bool = False):
        super().__init__(url, params, allow_private=allow_private)
        self.query_timeout = 15

    def connect_args(self) -> dict:
        return {"login_timeout": 10, "timeout": self.query_timeout}

    def execute_read(self, sql: str, *, limit: int = 100, timeout_seconds: int = 15) -> tuple[list[str], list[list]]:
        self.query_timeout = int(timeout_seconds)
        return super().execute_read(sql, limit=limit, timeout_seconds=timeout_seconds)

    def read_only_setup(self, conn, timeout_seconds: int) -> None:
        conn.execute(text(f"SET LOCK_TIMEOUT {int(timeout_seconds * 1000)}"))
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"))

    def schemas(self, inspector) -> list[str | None]:
        wanted = self.params.get("schemas")
        if wanted:
            return list(wanted)
        return [s for s in inspector.get_schema_names() if s not in (
            "INFORMATION_SCHEMA", "sys", "guest", "db_owner", "db_accessadmin", "db_securityadmin", "db_ddladmin",
            "db_backupoperator", "db_datareader", "db_datawriter", "db_denydatareader", "db_denydatawriter")]


@register
class SQLiteConnector(SQLAlchemyConnector):
    """SQLite files are only opened inside the directories the operator allows
    (`connection_params["allowed_dirs"]`, set by the service from DATABASE_FILE_DIRS), and
    read-only: a tenant must never open arbitrary files on the server."""

    type = "sqlite"
    sqlglot_dialect = "sqlite"
    driver_scheme = "sqlite"

    def __init__(self, url: str, params: dict, *, allow_private: bool = False):
        super().__init__(url, params, allow_private=allow_private)
        self._path: Path | None = None

    @property
    def host(self) -> str | None:
        return Path(self._url.database or "").name or None

    def check_location(self) -> Path:
        """The file's resolved path, if it lies inside an allowed directory (after following
        symlinks); otherwise a refusal that names the setting an operator would change."""
        database = self._url.database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            raise ConnectorError("A SQLite connection needs a database file path", code="INVALID_DATABASE_URL")
        dirs = [Path(d) for d in self.params.get("allowed_dirs") or []]
        allowed = ", ".join(str(d) for d in dirs) or "(none)"
        raw = Path(database)
        if ".." in raw.parts:
            raise ConnectorError(f"SQLite paths may not contain '..'; use a path inside DATABASE_FILE_DIRS ({allowed})",
                                 code="DATABASE_FILE_FORBIDDEN")
        if not raw.is_absolute() and dirs:
            raw = dirs[0] / raw
        path = raw.resolve()
        if not any(path.is_relative_to(d.resolve()) for d in dirs):
            raise ConnectorError(f"SQLite file {raw} is outside the directories allowed by DATABASE_FILE_DIRS "
                                 f"({allowed}); ask the operator to add its directory to that setting",
                                 code="DATABASE_FILE_FORBIDDEN")
        return path

    def engine(self):
        if self._path is None:
            path = self.check_location()
            if not path.is_file():
                raise ConnectorError(f"SQLite file not found: {path.name}", code="DATABASE_UNREACHABLE")
            self._path = path
            self._url = self._url.set(database=f"file:{path}?mode=ro", query={"uri": "true"})
        return super().engine()

    def read_only_setup(self, conn, timeout_seconds: int) -> None:
        conn.execute(text("PRAGMA query_only = ON"))
        # SQLite has no statement timeout: a progress handler interrupts the query past its deadline
        # ("interrupted"). The connection is not pooled (NullPool), so the handler dies with it.
        deadline = time.monotonic() + timeout_seconds
        conn.connection.driver_connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)

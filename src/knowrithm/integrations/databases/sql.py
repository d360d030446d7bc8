"""PostgreSQL (and CockroachDB), MySQL/MariaDB and SQLite connectors."""
from __future__ import annotations

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
class SQLiteConnector(SQLAlchemyConnector):
    """SQLite files are only accepted inside the directory the operator allows
    (`connection_params["allowed_root"]`, set by the service from UPLOAD_FOLDER): a tenant must
    never open arbitrary files on the server."""

    type = "sqlite"
    sqlglot_dialect = "sqlite"
    driver_scheme = "sqlite"

    def __init__(self, url: str, params: dict, *, allow_private: bool = False):
        super().__init__(url, params, allow_private=allow_private)
        self._path: Path | None = None

    @property
    def host(self) -> str | None:
        return Path(self._url.database or "").name or None

    def engine(self):
        if self._path is None:
            database = self._url.database or ""
            root = self.params.get("allowed_root")
            if not database or database == ":memory:" or database.startswith("file:"):
                raise ConnectorError("A SQLite connection needs a database file", code="INVALID_DATABASE_URL")
            path = Path(database).resolve()
            if not root or not path.is_relative_to(Path(root).resolve()):
                raise ConnectorError("SQLite files must live in the platform's database upload folder",
                                     code="DATABASE_HOST_FORBIDDEN")
            if not path.exists():
                raise ConnectorError(f"SQLite file not found: {path.name}", code="DATABASE_UNREACHABLE")
            self._path = path
            self._url = self._url.set(database=f"file:{path}?mode=ro", query={"uri": "true"})
        return super().engine()

    def read_only_setup(self, conn, timeout_seconds: int) -> None:
        conn.execute(text("PRAGMA query_only = ON"))

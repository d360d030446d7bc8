"""Connector interface and the SQLAlchemy-based implementation shared by SQL engines.

Every query a tenant (or an agent) sends is validated with sqlglot to be exactly one
read-only SELECT, gets a row limit, and runs in a read-only transaction with a timeout.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlglot import exp


class ConnectorError(Exception):
    def __init__(self, message: str, code: str = "DATABASE_ERROR"):
        super().__init__(message)
        self.code = code


class QueryRejected(ConnectorError):
    def __init__(self, message: str):
        super().__init__(message, code="QUERY_REJECTED")


@dataclass
class TableInfo:
    name: str
    schema: str | None = None
    table_type: str = "table"
    row_count: int | None = None
    size_bytes: int | None = None
    columns: list[dict] = field(default_factory=list)
    foreign_keys: list[dict] = field(default_factory=list)
    sample_values: dict[str, list] = field(default_factory=dict)


_CONNECTORS: dict[str, type["Connector"]] = {}
_ALIASES: dict[str, str] = {}


def register(cls: type["Connector"]) -> type["Connector"]:
    _CONNECTORS[cls.type] = cls
    for alias in (cls.type, *cls.aliases):
        _ALIASES[alias] = cls.type
    return cls


def supported_types() -> list[str]:
    _load()
    return sorted(_CONNECTORS)


def normalise_type(name: str | None) -> str | None:
    _load()
    return _ALIASES.get((name or "").strip().lower())


def get_connector(database_type: str, url: str, params: dict | None = None, *,
                  allow_private: bool = False) -> "Connector":
    kind = normalise_type(database_type)
    if kind is None:
        raise ConnectorError(f"Unsupported database type '{database_type}'; supported: {', '.join(supported_types())}",
                             code="UNSUPPORTED_DATABASE")
    return _CONNECTORS[kind](url, params or {}, allow_private=allow_private)


def _load() -> None:
    from . import sql  # noqa: F401  (registers the SQL engines)


class Connector:
    type: str = ""
    aliases: tuple[str, ...] = ()
    sqlglot_dialect: str = ""

    def __init__(self, url: str, params: dict, *, allow_private: bool = False):
        self.url, self.params, self.allow_private = url, params, allow_private

    @property
    def host(self) -> str | None:
        return None

    def test_connection(self) -> None:
        raise NotImplementedError

    def introspect(self, *, sample_values: bool = True) -> list[TableInfo]:
        raise NotImplementedError

    def execute_read(self, sql: str, *, limit: int = 100, timeout_seconds: int = 15) -> tuple[list[str], list[list]]:
        raise NotImplementedError

    def validate_select(self, sql: str, *, limit: int) -> str:
        """Exactly one SELECT (no writes, no DDL, no multiple statements) with a row limit."""
        try:
            statements = [s for s in sqlglot.parse(sql, read=self.sqlglot_dialect or None) if s is not None]
        except sqlglot.errors.ParseError as exc:
            raise QueryRejected(f"SQL could not be parsed: {str(exc).splitlines()[0]}") from exc
        if len(statements) != 1:
            raise QueryRejected("Exactly one SQL statement is allowed")
        tree = statements[0]
        if not isinstance(tree, (exp.Select, exp.Union, exp.Intersect, exp.Except)):
            raise QueryRejected("Only read-only SELECT queries are allowed")
        forbidden = (exp.Insert, exp.Update, exp.Delete, exp.Drop, exp.Create, exp.Alter, exp.Command, exp.Merge,
                     exp.Into, exp.Lock)
        if any(tree.find(kind) for kind in forbidden):
            raise QueryRejected("Only read-only SELECT queries are allowed")
        if isinstance(tree, exp.Select) and not tree.args.get("limit"):
            tree = tree.limit(limit)
        return tree.sql(dialect=self.sqlglot_dialect or None)


class SQLAlchemyConnector(Connector):
    driver_scheme: str = ""

    def __init__(self, url: str, params: dict, *, allow_private: bool = False):
        super().__init__(url, params, allow_private=allow_private)
        try:
            parsed = make_url(url.strip())
        except ArgumentError as exc:
            raise ConnectorError(f"Invalid database URL: {exc}", code="INVALID_DATABASE_URL") from exc
        self._url = parsed.set(drivername=self.driver_scheme) if self.driver_scheme else parsed
        self._engine: Engine | None = None

    @property
    def host(self) -> str | None:
        if self._url.host:
            return f"{self._url.host}:{self._url.port}" if self._url.port else self._url.host
        return self._url.database

    def _check_host(self) -> None:
        host = self._url.host
        if not host or self.allow_private:
            return
        try:
            infos = socket.getaddrinfo(host, self._url.port or 0)
        except socket.gaierror:
            raise ConnectorError(f"Database host not found: {host}", code="DATABASE_UNREACHABLE") from None
        if any(not ipaddress.ip_address(i[4][0]).is_global for i in infos):
            raise ConnectorError("Database host resolves to a non-public address; an operator can allow private "
                                 "networks with ALLOW_PRIVATE_URLS", code="DATABASE_HOST_FORBIDDEN")

    def engine(self) -> Engine:
        if self._engine is None:
            self._check_host()
            args = {**self.connect_args(), **(self.params.get("connect_args") or {})}
            self._engine = create_engine(self._url, poolclass=NullPool, connect_args=args)
        return self._engine

    def connect_args(self) -> dict:
        return {}

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _wrap(self, exc: Exception) -> ConnectorError:
        message = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:500]
        return ConnectorError(message or exc.__class__.__name__, code="DATABASE_ERROR")

    def test_connection(self) -> None:
        try:
            with self.engine().connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise self._wrap(exc) from exc
        finally:
            self.close()

    def read_only_setup(self, conn, timeout_seconds: int) -> None:
        """Engine-specific: make the transaction read-only and bounded in time."""

    def execute_read(self, sql: str, *, limit: int = 100, timeout_seconds: int = 15) -> tuple[list[str], list[list]]:
        safe = self.validate_select(sql, limit=limit)
        try:
            with self.engine().connect() as conn:
                with conn.begin():
                    self.read_only_setup(conn, timeout_seconds)
                    result = conn.execute(text(safe))
                    columns = list(result.keys())
                    rows = [[_jsonable(v) for v in row] for row in result.fetchmany(limit)]
            return columns, rows
        except SQLAlchemyError as exc:
            raise self._wrap(exc) from exc
        finally:
            self.close()

    def schemas(self, inspector) -> list[str | None]:
        return [None]

    def introspect(self, *, sample_values: bool = True) -> list[TableInfo]:
        try:
            inspector = inspect(self.engine())
            tables: list[TableInfo] = []
            for schema in self.schemas(inspector):
                for kind, names in (("table", inspector.get_table_names(schema=schema)),
                                    ("view", inspector.get_view_names(schema=schema))):
                    for name in names:
                        pk = set((inspector.get_pk_constraint(name, schema=schema) or {}).get("constrained_columns")
                                 or [])
                        columns = [{"name": c["name"], "type": str(c["type"]), "nullable": bool(c.get("nullable")),
                                    "primary_key": c["name"] in pk} for c in inspector.get_columns(name, schema=schema)]
                        fks = [{"columns": fk["constrained_columns"], "referred_table": fk["referred_table"],
                                "referred_schema": fk.get("referred_schema"), "referred_columns": fk["referred_columns"]}
                               for fk in inspector.get_foreign_keys(name, schema=schema)]
                        tables.append(TableInfo(name=name, schema=schema, table_type=kind, columns=columns,
                                                foreign_keys=fks))
            with self.engine().connect() as conn:
                for table in tables:
                    self._measure(conn, table, sample_values)
            return tables
        except SQLAlchemyError as exc:
            raise self._wrap(exc) from exc
        finally:
            self.close()

    def quote(self, table: TableInfo) -> str:
        prep = self.engine().dialect.identifier_preparer
        name = prep.quote(table.name)
        return f"{prep.quote(table.schema)}.{name}" if table.schema else name

    def _measure(self, conn, table: TableInfo, sample_values: bool) -> None:
        prep = self.engine().dialect.identifier_preparer
        try:
            table.row_count = conn.execute(text(f"SELECT COUNT(*) FROM {self.quote(table)}")).scalar()
        except SQLAlchemyError:
            conn.rollback()
            return
        if not sample_values:
            return
        # Distinct values of short text columns let the offline text-to-SQL resolve filters.
        for col in table.columns:
            if not any(t in col["type"].upper() for t in ("CHAR", "TEXT", "ENUM")):
                continue
            try:
                rows = conn.execute(text(
                    f"SELECT DISTINCT {prep.quote(col['name'])} FROM {self.quote(table)} "
                    f"WHERE {prep.quote(col['name'])} IS NOT NULL LIMIT 26")).scalars().all()
            except SQLAlchemyError:
                conn.rollback()
                continue
            if 0 < len(rows) <= 25 and all(isinstance(v, str) and len(v) <= 60 for v in rows):
                table.sample_values[col["name"]] = sorted(rows)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value) if not hasattr(value, "isoformat") else value.isoformat()

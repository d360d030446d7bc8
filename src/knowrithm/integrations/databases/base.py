"""Connector interface and the SQLAlchemy-based implementation shared by SQL engines.

Every query a tenant (or an agent) sends is validated with sqlglot to be exactly one
read-only SELECT, gets a row limit, and runs in a read-only transaction with a timeout.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import sqlalchemy.engine.reflection
import sqlglot
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlglot import exp


# Functions that read or write server files, sleep, signal other sessions, change settings or reach
# other servers: refused even inside a SELECT (the read-only transaction would not stop all of them).
FORBIDDEN_FUNCTIONS = {
    "pg_sleep", "pg_sleep_for", "pg_sleep_until", "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf",
    "pg_rotate_logfile", "pg_stat_file", "set_config", "dblink", "dblink_exec", "dblink_connect", "query_to_xml",
    "pg_file_write", "pg_logdir_ls", "pg_advisory_lock", "pg_notify", "txid_current", "current_setting",
    "sleep", "benchmark", "load_file", "get_lock", "sys_exec", "sys_eval",
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer",
    "xp_cmdshell", "openrowset", "opendatasource", "openquery",
}


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


def check_public_host(host: str | None, port: int | None, allow_private: bool) -> None:
    """Refuses hosts that resolve to private, loopback or link-local addresses unless the operator
    allows private networks (a tenant must not reach the platform's own network)."""
    if not host or allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, port or 0)
    except socket.gaierror:
        raise ConnectorError(f"Database host not found: {host}", code="DATABASE_UNREACHABLE") from None
    if any(not ipaddress.ip_address(i[4][0]).is_global for i in infos):
        raise ConnectorError("Database host resolves to a non-public address; an operator can allow private "
                             "networks with ALLOW_PRIVATE_URLS", code="DATABASE_HOST_FORBIDDEN")


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
    from . import mongo, sql  # noqa: F401  (registers the engines)


class Connector:
    type: str = ""
    aliases: tuple[str, ...] = ()
    sqlglot_dialect: str = ""
    query_language: str = "sql"  # "mongodb": queries are Extended JSON aggregation pipelines

    def __init__(self, url: str, params: dict, *, allow_private: bool = False):
        self.url, self.params, self.allow_private = url, params, allow_private

    @property
    def host(self) -> str | None:
        return None

    def check_location(self):
        """Refuses (ConnectorError) a target the operator does not allow; file-based engines check paths."""

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
        for func in tree.find_all(exp.Func):
            name = (func.name if isinstance(func, exp.Anonymous) else func.sql_name()).lower()
            if name in FORBIDDEN_FUNCTIONS or name.startswith(("pg_read", "pg_ls", "lo_")):
                raise QueryRejected(f"The function {name}() is not allowed")
        if isinstance(tree, exp.Select) and not tree.args.get("limit"):
            tree = tree.limit(limit)
        # Rendered from the parsed tree without comments: what runs is exactly what was checked.
        return tree.sql(dialect=self.sqlglot_dialect or None, comments=False)


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
        check_public_host(self._url.host, self._url.port, self.allow_private)

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
                # One reflection query per kind for the whole schema (SQLAlchemy's get_multi_*), not
                # three per table: a 200-table schema is analysed in a few round trips.
                kinds = {name: "table" for name in inspector.get_table_names(schema=schema)}
                kinds.update({name: "view" for name in inspector.get_view_names(schema=schema)})
                if not kinds:
                    continue
                kind_filter = {"kind": sqlalchemy.engine.reflection.ObjectKind.ANY}
                all_columns = inspector.get_multi_columns(schema=schema, **kind_filter)
                all_pks = inspector.get_multi_pk_constraint(schema=schema, **kind_filter)
                all_fks = inspector.get_multi_foreign_keys(schema=schema, **kind_filter)
                for name in sorted(kinds):
                    key = (schema, name)
                    pk = set((all_pks.get(key) or {}).get("constrained_columns") or [])
                    columns = [{"name": c["name"], "type": str(c["type"]), "nullable": bool(c.get("nullable")),
                                "primary_key": c["name"] in pk} for c in all_columns.get(key, [])]
                    fks = [{"columns": fk["constrained_columns"], "referred_table": fk["referred_table"],
                            "referred_schema": fk.get("referred_schema"), "referred_columns": fk["referred_columns"]}
                           for fk in all_fks.get(key, [])]
                    tables.append(TableInfo(name=name, schema=schema, table_type=kinds[name], columns=columns,
                                            foreign_keys=fks))
            with self.engine().connect() as conn:
                self._measure_all(conn, tables, sample_values)
            return tables
        except SQLAlchemyError as exc:
            raise self._wrap(exc) from exc
        finally:
            self.close()

    def quote(self, table: TableInfo) -> str:
        prep = self.engine().dialect.identifier_preparer
        name = prep.quote(table.name)
        return f"{prep.quote(table.schema)}.{name}" if table.schema else name

    BATCH = 40  # tables (counts) or columns (sample values) per UNION ALL query

    @staticmethod
    def _ref(table: TableInfo):
        return sa.table(table.name, *[sa.column(c["name"]) for c in table.columns], schema=table.schema)

    def _batched(self, conn, statements: list) -> list | None:
        """Rows of the UNION ALL of `statements`; None when the engine refuses the combined query."""
        try:
            return conn.execute(sa.union_all(*statements) if len(statements) > 1 else statements[0]).all()
        except SQLAlchemyError:
            conn.rollback()
            return None

    def _measure_all(self, conn, tables: list[TableInfo], sample_values: bool) -> None:
        """Row counts and, for short text columns, their distinct values (the offline text-to-SQL
        resolves filters with them), batched into a few UNION ALL queries built with SQLAlchemy
        (so each dialect gets its own LIMIT/TOP and quoting); one query per item if a batch fails."""
        for start in range(0, len(tables), self.BATCH):
            chunk = list(enumerate(tables))[start:start + self.BATCH]
            counts = [sa.select(sa.literal_column(str(i)).label("i"), sa.func.count().label("n"))
                      .select_from(self._ref(t)) for i, t in chunk]
            rows = self._batched(conn, counts)
            if rows is None:  # one table the engine cannot count (a broken view) must not hide the rest
                rows = [r for stmt in counts for r in (self._batched(conn, [stmt]) or [])]
            for i, n in rows:
                tables[int(i)].row_count = n
        if not sample_values:
            return
        wanted = [(ti, c["name"]) for ti, t in enumerate(tables) if t.row_count for c in t.columns
                  if any(k in c["type"].upper() for k in ("CHAR", "TEXT", "ENUM"))]
        found: dict[tuple[int, str], list] = {}
        for start in range(0, len(wanted), self.BATCH):
            chunk = wanted[start:start + self.BATCH]
            selects = []
            for k, (ti, name) in enumerate(chunk):
                ref = self._ref(tables[ti])
                sub = (sa.select(ref.c[name].label("v")).distinct().where(ref.c[name].is_not(None)).limit(26)
                       .subquery(f"s{k}"))
                selects.append(sa.select(sa.literal_column(str(start + k)).label("k"),
                                         sa.cast(sub.c.v, sa.String).label("v")).select_from(sub))
            rows = self._batched(conn, selects)
            if rows is None:
                rows = [r for stmt in selects for r in (self._batched(conn, [stmt]) or [])]
            for k, value in rows:
                found.setdefault(wanted[int(k)], []).append(value)
        for (ti, name), values in found.items():
            if 0 < len(values) <= 25 and all(isinstance(v, str) and len(v) <= 60 for v in values):
                tables[ti].sample_values[name] = sorted(values)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value) if not hasattr(value, "isoformat") else value.isoformat()

"""Read results kept in process memory, invalidated by the tables they were read from.

Every committed write through the engine bumps a generation per written table, in one Redis
hash shared by the cluster (`track_writes`). A cached read names its tables; an entry is used
only while their generations (read in one `HMGET`) are the ones it was loaded under, so the
next request on any node after a commit sees the new data. Writes are recognised from the SQL
the engine sends (INSERT/UPDATE/DELETE/MERGE/COPY/TRUNCATE name their table); anything else
that may write (DDL, `DO`, a `WITH` that writes) bumps every table. docs/architecture.md,
"Read cache", has the reasoning and the limits.

Ordering: a table is bumped after its transaction's commit reached PostgreSQL (when the
connection begins its next transaction or goes back to the pool), so a reader that sees the new
generation reads the new rows. Autocommit writes are bumped right after they execute.

Failure: without Redis every read goes to the database. A bump that fails is retried by the
same process at its next Redis call; an epoch stored in the hash makes a Redis that lost its
data invalidate everything. Writes made outside this engine (`pg_restore`, another program)
must call `bump_all(redis_client)`; `MAX_AGE` bounds what a missed bump can cost. A DELETE
also bumps the tables its foreign keys cascade to; tables written only by triggers
(the BM25 postings) are not seen, so no cached read may depend on them.
"""
from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable

from sqlalchemy import event
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

TABLEGEN_KEY = "knowrithm:tablegen"
EPOCH = "~epoch"
ALL = "*"  # a write whose tables are unknown: every cached read depends on it
MAX_AGE = 60.0
MAX_ENTRIES = 2048

_WRITE = re.compile(r"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|MERGE\s+INTO|COPY|TRUNCATE(?:\s+TABLE)?)\s+"
                    r"(?:ONLY\s+)?(?:\"?\w+\"?\.)?\"?(\w+)\"?", re.IGNORECASE)
_NO_WRITE = re.compile(r"\s*(?:SELECT|SET|SHOW|SAVEPOINT|RELEASE|ROLLBACK|BEGIN|START|COMMIT|END|LISTEN|"
                       r"UNLISTEN|NOTIFY|DISCARD|RESET|EXPLAIN|VACUUM|ANALYZE|LOCK|DECLARE|FETCH|CLOSE|"
                       r"PREPARE|DEALLOCATE)\b", re.IGNORECASE)
_WITH_WRITE = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)

_written: dict[str, frozenset[str]] = {}


def written_tables(statement: str) -> frozenset[str]:
    """The tables `statement` may write: empty for a read, {ALL} when it cannot tell.
    Kept per SQL string (the engine's compiled cache sends the same strings again)."""
    tables = _written.get(statement)
    if tables is None:
        match = _WRITE.match(statement)
        if match:
            tables = frozenset({match.group(1).lower()})
        elif statement.lstrip()[:4].upper() == "WITH":
            tables = frozenset({ALL}) if _WITH_WRITE.search(statement) else frozenset()
        elif _NO_WRITE.match(statement):
            tables = frozenset()
        else:
            tables = frozenset({ALL})  # DDL, DO, CALL, anything unforeseen
        if len(_written) >= 4096:
            _written.clear()
        _written[statement] = tables
    return tables


# --- generations in Redis -----------------------------------------------------------------------

class Generations:
    """The Redis side: bump tables, read their generations (with the epoch)."""

    def __init__(self, client_factory: Callable[[], Any]):
        self._client = client_factory
        self._pending: set[str] = set()  # bumps that failed, retried at the next call
        self._lock = threading.Lock()

    def bump(self, tables: Iterable[str]) -> None:
        with self._lock:
            wanted = self._pending | set(tables)
            self._pending = set()
        if not wanted:
            return
        try:
            pipe = self._client().pipeline(transaction=False)
            pipe.hsetnx(TABLEGEN_KEY, EPOCH, uuid.uuid4().hex)
            for table in sorted(wanted):
                pipe.hincrby(TABLEGEN_KEY, table, 1)
            pipe.execute()
        except Exception as exc:  # noqa: BLE001 - readers bypass the cache while Redis is away
            with self._lock:
                self._pending |= wanted
            log.warning("could not record writes to %s for the read cache: %s", sorted(wanted), exc)

    def read(self, tables: tuple[str, ...]) -> tuple | None:
        """(epoch, ALL's generation, each table's), or None: do not trust the cache now."""
        if self._pending:
            self.bump(())
            if self._pending:
                return None
        try:
            values = self._client().hmget(TABLEGEN_KEY, EPOCH, ALL, *tables)
        except Exception:  # noqa: BLE001
            return None
        if values[0] is None:  # a Redis that lost its data: start a new epoch, read from the database
            try:
                self._client().hsetnx(TABLEGEN_KEY, EPOCH, uuid.uuid4().hex)
            except Exception:  # noqa: BLE001
                pass
            return None
        return tuple(values)


def install(app, engine: Engine, metadata) -> None:
    """The app's generations (on its Redis client) and the write tracking of its engine."""
    gens = app.extensions["read_cache"] = Generations(lambda: app.extensions["redis"])
    track_writes(engine, lambda: gens, cascades(metadata))


def cascades(metadata) -> dict[str, frozenset[str]]:
    """table -> the tables a DELETE of its rows also changes, through foreign keys that
    cascade or set null, transitively (PostgreSQL does those writes; the engine never sees them)."""
    direct: dict[str, set[str]] = {}
    for table in metadata.tables.values():
        for fk in table.foreign_keys:
            if (fk.ondelete or "").upper() in ("CASCADE", "SET NULL", "SET DEFAULT"):
                direct.setdefault(fk.column.table.name, set()).add(table.name)
    closure: dict[str, frozenset[str]] = {}
    for start in direct:
        seen, todo = set(), [start]
        while todo:
            for child in direct.get(todo.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        closure[start] = frozenset(seen)
    return closure


_DELETE = re.compile(r"\s*(?:DELETE|TRUNCATE)\b", re.IGNORECASE)


def generations() -> Generations:
    from flask import current_app

    return current_app.extensions["read_cache"]


def bump_all(client) -> None:
    """After writes no engine saw (a restore by pg_restore): every cached read is stale."""
    Generations(lambda: client).bump((ALL,))


# --- recognising writes -------------------------------------------------------------------------

_WRITTEN = "knowrithm_written_tables"      # this transaction's writes, not yet committed
_COMMITTED = "knowrithm_committed_tables"  # committed, bumped once the commit has returned


def track_writes(engine: Engine, bumper: Callable[[], Generations],
                 cascade: dict[str, frozenset[str]] | None = None) -> None:
    """Bump the tables every committed transaction of `engine` wrote (and, for a DELETE or
    TRUNCATE, those its foreign keys cascade to: `cascade`)."""
    cascade = cascade or {}
    expanded: dict[str, frozenset[str]] = {}

    def affected(statement: str) -> frozenset[str]:
        tables = written_tables(statement)
        if tables and cascade and _DELETE.match(statement):
            hit = expanded.get(statement)
            if hit is None:
                hit = tables.union(*(cascade.get(t, ()) for t in tables))
                if len(expanded) >= 4096:
                    expanded.clear()
                expanded[statement] = hit
            return hit
        return tables

    @event.listens_for(engine, "before_cursor_execute")
    def _note(conn, cursor, statement, parameters, context, executemany) -> None:
        tables = affected(statement)
        if not tables:
            return
        raw = conn.connection.dbapi_connection
        if raw is not None and getattr(raw, "autocommit", False):
            conn.connection.info.setdefault(_COMMITTED, set()).update(tables)  # visible once it ran
        else:
            conn.connection.info.setdefault(_WRITTEN, set()).update(tables)

    @event.listens_for(engine, "after_cursor_execute")
    def _autocommitted(conn, cursor, statement, parameters, context, executemany) -> None:
        info = conn.connection.info
        if info.get(_COMMITTED) and not info.get(_WRITTEN):
            raw = conn.connection.dbapi_connection
            if raw is not None and getattr(raw, "autocommit", False):
                bumper().bump(info.pop(_COMMITTED))

    @event.listens_for(engine, "commit")
    def _committing(conn) -> None:
        info = conn.connection.info
        written = info.pop(_WRITTEN, None)
        if written:
            info.setdefault(_COMMITTED, set()).update(written)

    @event.listens_for(engine, "rollback")
    def _rolled_back(conn) -> None:
        conn.connection.info.pop(_WRITTEN, None)

    # The commit has returned by the time the connection starts its next transaction or goes
    # back to the pool: bumping then never lets a reader cache pre-commit rows under the new number.
    @event.listens_for(engine, "begin")
    def _next_transaction(conn) -> None:
        committed = conn.connection.info.pop(_COMMITTED, None)
        if committed:
            bumper().bump(committed)

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection, record) -> None:
        record.info.pop(_WRITTEN, None)  # not committed: the pool's reset rolled it back
        committed = record.info.pop(_COMMITTED, None)
        if committed:
            bumper().bump(committed)


# --- one snapshot per request ------------------------------------------------------------------

_TABLES: set[str] = set()  # every table a ReadCache depends on
_SNAPSHOT = "knowrithm_tablegen"


def snapshot_fields() -> list[str]:
    """The hash fields a request's snapshot reads: authentication asks Redis for them in the
    round trip it makes anyway (the key's counters, a token's revocation), so a cached read
    costs no Redis call of its own."""
    return [EPOCH, ALL, *sorted(_TABLES)]


def remember_snapshot(fields: list[str], values: list) -> None:
    from flask import g, has_request_context

    if has_request_context():
        setattr(g, _SNAPSHOT, dict(zip(fields, values)))


def _snapshot_stamp(tables: tuple[str, ...]) -> tuple | None:
    from flask import g, has_request_context

    snap = getattr(g, _SNAPSHOT, None) if has_request_context() else None
    if not snap or snap.get(EPOCH) is None or any(t not in snap for t in tables):
        return None
    return (snap[EPOCH], snap[ALL], *(snap[t] for t in tables))


# --- the cache ----------------------------------------------------------------------------------

@dataclass
class _Entry:
    stamp: tuple
    value: Any
    loaded_at: float
    until: float | None


class _Flight:
    def __init__(self):
        self.done = threading.Event()
        self.value: Any = None
        self.ok = False


FLIGHT_WAIT = 5.0  # seconds a request waits for another's load of the same entry


class ReadCache:
    """`get(key, load)`: load()'s value, reused while `tables` are unchanged cluster-wide.

    Values are shared between requests: callers must not mutate them (copy what they change).
    `until(value)` gives the epoch second after which an entry is stale with no write at all
    (an expiry date in it); None for never."""

    def __init__(self, name: str, tables: Iterable, *, max_age: float = MAX_AGE,
                 max_entries: int = MAX_ENTRIES, source: Callable[[], Generations] = generations):
        self.name = name
        self.tables = tuple(sorted({getattr(t, "__tablename__", t) for t in tables}))  # models or names
        _TABLES.update(self.tables)
        self.max_age, self.max_entries = max_age, max_entries
        self._source = source
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._flights: dict[tuple, _Flight] = {}
        self.hits = self.misses = 0

    def get(self, key: Hashable, load: Callable[[], Any], *, until: Callable[[Any], float | None] | None = None):
        source = self._source()
        # The request's snapshot (taken when it authenticated) unless this process owes a bump.
        stamp = (None if source._pending else _snapshot_stamp(self.tables)) or source.read(self.tables)
        if stamp is None:
            return load()
        now = time.monotonic()
        entry = self._entries.get(key)
        if (entry is not None and entry.stamp == stamp and now - entry.loaded_at < self.max_age
                and (entry.until is None or time.time() < entry.until)):
            self.hits += 1
            return entry.value
        self.misses += 1
        # One load per key and stamp: after a write, every request in flight on this process
        # would otherwise query the database at once (a gevent worker holds dozens).
        with self._lock:
            flight = self._flights.get((key, stamp))
            leader = flight is None
            if leader:
                flight = self._flights[(key, stamp)] = _Flight()
        if not leader:
            if flight.done.wait(FLIGHT_WAIT) and flight.ok:
                return flight.value
            return load()  # the leader failed (its error is its own) or is stuck: load alone
        try:
            value = load()
            flight.value, flight.ok = value, True
            with self._lock:
                self._entries[key] = _Entry(stamp, value, now, until(value) if until else None)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            return value
        finally:
            flight.done.set()
            with self._lock:
                self._flights.pop((key, stamp), None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

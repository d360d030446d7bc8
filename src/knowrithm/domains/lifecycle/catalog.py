"""The live database catalog: which tables carry which columns.

Read from `information_schema` on every call (a few milliseconds, and lifecycle work is rare)
rather than from SQLAlchemy's metadata, so that tables created by migrations alone (BM25
postings, statistics, later additions) are seen too.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from knowrithm.infra.db import db

_COLUMNS = text("""
    SELECT c.table_name, c.column_name, c.is_nullable = 'YES' AS nullable, c.data_type
    FROM information_schema.columns c
    JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
    WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
    ORDER BY c.table_name, c.ordinal_position""")


@dataclass
class Catalog:
    tables: dict[str, dict[str, tuple[bool, str]]]  # table -> column -> (nullable, data type)

    def with_column(self, column: str) -> list[str]:
        return [t for t, cols in self.tables.items() if column in cols]

    def has(self, table: str, column: str) -> bool:
        return column in self.tables.get(table, {})

    def nullable(self, table: str, column: str) -> bool:
        return self.tables.get(table, {}).get(column, (False, ""))[0]

    def is_uuid(self, table: str, column: str) -> bool:
        return self.tables.get(table, {}).get(column, (False, ""))[1] == "uuid"

    def match(self, table: str, column: str, param: str = "ids") -> str:
        """SQL for `column` equal to any of the bound list `param` (uuid columns keep their index)."""
        if self.is_uuid(table, column):
            return f"{quote(column)} = ANY(CAST(:{param} AS uuid[]))"
        return f"CAST({quote(column)} AS text) = ANY(CAST(:{param} AS text[]))"


def read() -> Catalog:
    tables: dict[str, dict[str, tuple[bool, str]]] = {}
    for table, column, is_nullable, kind in db.session.execute(_COLUMNS):
        tables.setdefault(table, {})[column] = (bool(is_nullable), kind)
    return Catalog(tables)


def quote(name: str) -> str:
    """Identifiers come from the catalog, never from a request; quoted all the same."""
    return '"' + name.replace('"', '""') + '"'


def delete_batched(table: str, where: str, params: dict, *, batch: int, max_batches: int) -> tuple[int, bool]:
    """Deletes the rows of `table` matching `where`, `batch` rows per committed transaction, so a
    large backlog never holds long locks or one huge transaction. Returns (rows, finished)."""
    total = 0
    sql = text(f"DELETE FROM {quote(table)} WHERE ctid = ANY(ARRAY("
               f"SELECT ctid FROM {quote(table)} WHERE {where} LIMIT :batch_size))")
    for _ in range(max_batches):
        n = db.session.execute(sql, {**params, "batch_size": batch}).rowcount
        db.session.commit()
        total += n
        if n < batch:
            return total, True
    return total, False

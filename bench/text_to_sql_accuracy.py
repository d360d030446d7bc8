"""Accuracy of the offline (rule-based) text-to-SQL generator on 30 shop questions.

    python bench/text_to_sql_accuracy.py [--verbose]

The shop of tests/databases/shop.py goes into a SQLite file; the connector analyses it exactly as
the platform does; each question is translated by the offline generator, validated and run
read-only, and its rows are compared with the rows of the question's reference SQL (exact result
match: same rows, numbers to the cent, order ignored). No model is involved.
"""
from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from knowrithm.domains.databases.text_to_sql import translate_with_rules  # noqa: E402
from knowrithm.integrations.databases import ConnectorError, get_connector  # noqa: E402
from tests.databases.shop import normalise, questions, statements  # noqa: E402


def snapshot(connector) -> list[dict]:
    return [{"name": t.name, "schema": t.schema, "type": t.table_type, "row_count": t.row_count,
             "columns": t.columns, "foreign_keys": t.foreign_keys, "sample_values": t.sample_values}
            for t in connector.introspect()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shop.db"
        with sqlite3.connect(path) as conn:
            for stmt in statements("sqlite"):
                conn.execute(stmt)
        url = f"sqlite:///{path}"
        tables = snapshot(get_connector("sqlite", url, {"allowed_dirs": [tmp]}))
        right, failures = 0, []
        for question, reference in questions():
            with sqlite3.connect(path) as conn:
                expected = normalise(conn.execute(reference).fetchall())
            translation = translate_with_rules(question, tables)
            got, error = None, None
            if translation.sql:
                try:
                    _, rows = get_connector("sqlite", url, {"allowed_dirs": [tmp]}).execute_read(translation.sql,
                                                                                                 limit=100)
                    got = normalise(rows)
                except ConnectorError as exc:
                    error = str(exc)
            ok = got == expected
            right += ok
            if not ok:
                failures.append((question, translation.sql or translation.explanation, error or got, expected))
            if args.verbose:
                print(("OK  " if ok else "BAD ") + question + "\n     " + str(translation.sql))
    total = len(questions())
    print(f"offline text-to-SQL exact result match: {right}/{total} ({100 * right / total:.0f}%)")
    for question, sql, got, expected in failures:
        print(f"  miss: {question}\n        sql: {sql}\n        got: {got}\n        expected: {expected}")


if __name__ == "__main__":
    main()

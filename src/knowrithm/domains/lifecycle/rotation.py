"""Secret rotation: every value stored under the Fernet helper is re-encrypted with the newest
key of ENCRYPTION_KEY (`knowrithm secrets rotate`), after which older keys can be removed.

Stored secrets are found by convention, from the catalog: text columns named `*_encrypted`, and
inside JSON columns listed in `JSON_SECRET_COLUMNS`, values under keys named `*_encrypted`.
All of it happens in one transaction; if any value cannot be read with the configured keys
nothing is changed and the unreadable values are named (table, column, row id).
"""
from __future__ import annotations

import copy

from cryptography.fernet import InvalidToken
from flask import current_app
from sqlalchemy import JSON, bindparam, text

from knowrithm.infra.crypto import keyring
from knowrithm.infra.db import db

from .catalog import quote, read

# JSON columns holding objects with `*_encrypted` members (fallback models carry their own keys).
JSON_SECRET_COLUMNS = (("llm_settings", "fallback_models"),)


class RotationRefused(Exception):
    def __init__(self, unreadable: list[str]):
        super().__init__(f"{len(unreadable)} stored secret(s) cannot be decrypted with the configured keys")
        self.unreadable = unreadable


def _rotate_json(value, fernet, where: str, unreadable: list[str]) -> tuple[object, int]:
    count = 0
    if isinstance(value, dict):
        for k, v in value.items():
            if k.endswith("_encrypted") and isinstance(v, str) and v:
                try:
                    value[k] = fernet.rotate(v.encode()).decode()
                    count += 1
                except InvalidToken:
                    unreadable.append(f"{where} [{k}]")
            else:
                value[k], n = _rotate_json(v, fernet, where, unreadable)
                count += n
    elif isinstance(value, list):
        for i, item in enumerate(value):
            value[i], n = _rotate_json(item, fernet, where, unreadable)
            count += n
    return value, count


def rotate_secrets() -> dict[str, int]:
    """Re-encrypts every stored secret; returns counts per `table.column`. Raises RotationRefused
    (and changes nothing) when some value is unreadable."""
    fernet = keyring(current_app.config["SETTINGS"].ENCRYPTION_KEY)
    cat = read()
    counts: dict[str, int] = {}
    unreadable: list[str] = []
    updates: list[tuple[str, str, object, object]] = []
    for table, cols in sorted(cat.tables.items()):
        for column in cols:
            if not column.endswith("_encrypted") or not cat.has(table, "id"):
                continue
            rows = db.session.execute(text(f"SELECT id, {quote(column)} FROM {quote(table)} "
                                           f"WHERE coalesce({quote(column)}, '') <> ''"))
            for ident, token in rows:
                try:
                    updates.append((table, column, ident, fernet.rotate(token.encode()).decode()))
                    counts[f"{table}.{column}"] = counts.get(f"{table}.{column}", 0) + 1
                except InvalidToken:
                    unreadable.append(f"{table}.{column} id={ident}")
    for table, column in JSON_SECRET_COLUMNS:
        if not cat.has(table, column):
            continue
        for ident, value in db.session.execute(text(f"SELECT id, {quote(column)} FROM {quote(table)} "
                                                    f"WHERE {quote(column)} IS NOT NULL")):
            new, n = _rotate_json(copy.deepcopy(value), fernet, f"{table}.{column} id={ident}", unreadable)
            if n:
                updates.append((table, column, ident, new))
                counts[f"{table}.{column}"] = counts.get(f"{table}.{column}", 0) + n
    if unreadable:
        db.session.rollback()
        raise RotationRefused(unreadable)
    for table, column, ident, value in updates:
        stmt = text(f"UPDATE {quote(table)} SET {quote(column)} = :v WHERE id = :id")
        if not isinstance(value, str):
            stmt = stmt.bindparams(bindparam("v", type_=JSON))
        db.session.execute(stmt, {"v": value, "id": ident})
    db.session.commit()
    return counts

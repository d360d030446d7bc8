"""Natural-language questions to SQL.

With a generative model configured for the agent, the model writes the SQL from the
schema snapshot. Offline (the extractive default has no generative model) a small
rule-based translator handles the common shapes — counts, sums/averages, extremes,
listings, equality filters on known values — and says when it cannot.
Whatever produced the SQL, it is validated as one read-only SELECT before it runs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

STOP = {"the", "a", "an", "of", "in", "on", "for", "to", "is", "are", "was", "were", "what", "which", "who", "how",
        "many", "much", "me", "show", "list", "give", "all", "from", "with", "by", "and", "or", "do", "does", "we",
        "have", "there", "their", "our", "per", "each", "whose", "that", "it", "be", "has", "at"}
AGG = [
    (("how many", "number of", "count"), "COUNT"),
    (("average", "avg", "mean"), "AVG"),
    (("total", "sum"), "SUM"),
    (("maximum", "max", "highest", "largest", "most expensive", "biggest", "top"), "MAX"),
    (("minimum", "min", "lowest", "smallest", "cheapest", "least"), "MIN"),
]
NUMERIC = ("INT", "NUMERIC", "DECIMAL", "FLOAT", "DOUBLE", "REAL", "MONEY")


@dataclass
class Translation:
    sql: str | None
    explanation: str
    generator: str  # "llm" | "rules"


def _tokens(text: str) -> list[str]:
    return [t for t in re.findall(r"[a-z0-9_]+", text.lower()) if t not in STOP]


def _stem(word: str) -> str:
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def _score_name(name: str, words: set[str]) -> int:
    parts = {_stem(p) for p in name.lower().split("_") if p}
    return len(parts & words) * 2 + (1 if _stem(name.lower()) in words else 0)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def translate_with_rules(question: str, tables: list[dict], *, dialect_quote=_quote, limit: int = 100) -> Translation:
    """`tables`: [{"name", "schema", "columns": [{"name","type"}], "sample_values": {col: [..]}}]."""
    q = question.lower()
    words = {_stem(t) for t in _tokens(question)}
    if not tables:
        return Translation(None, "The connection has no analysed tables yet; run analyze first.", "rules")
    table = max(tables, key=lambda t: (_score_name(t["name"], words), t.get("row_count") or 0))
    if _score_name(table["name"], words) == 0 and len(tables) > 1:
        return Translation(None, "Could not tell which table the question is about; name the table "
                                 f"(one of: {', '.join(t['name'] for t in tables)}).", "rules")
    ref = f"{dialect_quote(table['schema'])}.{dialect_quote(table['name'])}" if table.get("schema") else dialect_quote(table["name"])
    columns = table.get("columns") or []

    conditions, used_values = [], []
    for col, values in (table.get("sample_values") or {}).items():
        for value in values:
            if re.search(r"\b" + re.escape(value.lower()) + r"\b", q):
                conditions.append(f"{dialect_quote(col)} = '{value.replace(chr(39), chr(39) * 2)}'")
                used_values.append(f"{col} = {value}")
                break

    agg = next((fn for phrases, fn in AGG if any(p in q for p in phrases)), None)
    target = None
    if agg and agg != "COUNT":
        numeric = [c for c in columns if any(n in c["type"].upper() for n in NUMERIC) and not c.get("primary_key")]
        scored = sorted(numeric, key=lambda c: _score_name(c["name"], words), reverse=True)
        target = scored[0] if scored and (_score_name(scored[0]["name"], words) > 0 or len(scored) == 1) else None
        if target is None:
            agg = None
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    if agg == "COUNT":
        sql = f"SELECT COUNT(*) AS count FROM {ref}{where}"
        what = f"counts rows of {table['name']}"
    elif agg in ("MAX", "MIN") and target is not None:
        order = "DESC" if agg == "MAX" else "ASC"
        sql = f"SELECT * FROM {ref}{where} ORDER BY {dialect_quote(target['name'])} {order} LIMIT 1"
        what = f"finds the row of {table['name']} with the {'highest' if agg == 'MAX' else 'lowest'} {target['name']}"
    elif agg in ("SUM", "AVG") and target is not None:
        alias = f"{agg.lower()}_{target['name']}"
        sql = f"SELECT {agg}({dialect_quote(target['name'])}) AS {alias} FROM {ref}{where}"
        what = f"computes the {'total' if agg == 'SUM' else 'average'} of {table['name']}.{target['name']}"
    else:
        sql = f"SELECT * FROM {ref}{where} LIMIT {limit}"
        what = f"lists rows of {table['name']}"
    if used_values:
        what += " where " + " and ".join(used_values)
    return Translation(sql, f"Rule-based translation: {what}.", "rules")


SQL_PROMPT = """You translate questions into one read-only SQL SELECT for a {dialect} database.
Schema:
{schema}
Answer with the SQL only, no explanation, no code fences."""


def schema_text(tables: list[dict]) -> str:
    lines = []
    for t in tables:
        cols = ", ".join(f"{c['name']} {c['type']}" for c in t.get("columns") or [])
        lines.append(f"- {t['name']}({cols})")
    return "\n".join(lines)


def extract_sql(text: str) -> str:
    fenced = re.search(r"```(?:sql)?\s*(.+?)```", text, re.S | re.I)
    sql = fenced.group(1) if fenced else text
    return sql.strip().rstrip(";").strip()

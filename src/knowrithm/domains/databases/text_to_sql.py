"""Natural-language questions to SQL.

With a generative model configured for the agent, the model writes the SQL from the
schema snapshot. Offline (the extractive default has no generative model) a small
rule-based translator handles the common shapes (counts, sums/averages, extremes, rankings,
groupings, filters on known values, periods, joins along foreign keys) and says when it cannot.
Whatever produced the SQL, it is validated as one read-only SELECT before it runs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

STOP = {"the", "a", "an", "of", "in", "on", "for", "to", "is", "are", "was", "were", "what", "which", "who", "how",
        "many", "much", "me", "show", "list", "give", "all", "from", "with", "by", "and", "or", "do", "does", "we",
        "have", "there", "their", "our", "per", "each", "whose", "that", "it", "be", "has", "at"}
AGG = [  # first match wins: "highest order total" is an extreme, not a sum
    (("how many", "number of", "count"), "COUNT"),
    (("average", "avg", "mean"), "AVG"),
    (("maximum", "max", "highest", "largest", "most expensive", "biggest", "top"), "MAX"),
    (("minimum", "min", "lowest", "smallest", "cheapest", "least"), "MIN"),
    (("total", "sum"), "SUM"),
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


MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
DATE_TYPES = ("DATE", "TIME")  # DATE, DATETIME, TIMESTAMP
QUANTITY = ("quantity", "qty", "units", "unit_count", "count")
MONEY = ("amount", "total", "revenue", "price", "cost", "value", "subtotal")
LABEL = ("name", "title", "label", "sku", "email")
QUANTITY_WORDS = ("sold", "sell", "sales", "units", "quantity", "bought", "ordered", "popular")
MONEY_WORDS = ("revenue", "spent", "spend", "earned", "income", "amount", "turnover", "money")


def _month_start(d: date, delta: int = 0) -> date:
    index = d.year * 12 + d.month - 1 + delta
    return date(index // 12, index % 12 + 1, 1)


def period(question: str, today: date) -> tuple[date, date, str] | None:
    """[start, end) of the period a question names: last/this month/year/week, in <month> [<year>],
    in <year>, last N days, today, yesterday. A bare month is its most recent occurrence."""
    q = question.lower()
    if re.search(r"\b(last|previous|past) month\b", q):
        return _month_start(today, -1), _month_start(today), "last month"
    if re.search(r"\bthis month\b", q):
        return _month_start(today), _month_start(today, 1), "this month"
    if re.search(r"\b(last|previous|past) year\b", q):
        return date(today.year - 1, 1, 1), date(today.year, 1, 1), "last year"
    if re.search(r"\bthis year\b", q):
        return date(today.year, 1, 1), date(today.year + 1, 1, 1), "this year"
    days = re.search(r"\b(?:last|past) (\d{1,3}) days\b", q)
    if days:
        return today - timedelta(days=int(days.group(1))), today + timedelta(days=1), f"last {days.group(1)} days"
    if re.search(r"\b(last|previous|past) week\b", q):
        monday = today - timedelta(days=today.weekday())
        return monday - timedelta(days=7), monday, "last week"
    if re.search(r"\byesterday\b", q):
        return today - timedelta(days=1), today, "yesterday"
    if re.search(r"\btoday\b", q):
        return today, today + timedelta(days=1), "today"
    month = re.search(r"\b(" + "|".join(MONTHS) + r")\b(?:\s+(\d{4}))?", q)
    if month:
        number = MONTHS.index(month.group(1)) + 1
        year = int(month.group(2)) if month.group(2) else (today.year if number <= today.month else today.year - 1)
        return date(year, number, 1), _month_start(date(year, number, 1), 1), f"{month.group(1).title()} {year}"
    year = re.search(r"\b(?:in|during) (\d{4})\b", q)
    if year:
        y = int(year.group(1))
        return date(y, 1, 1), date(y + 1, 1, 1), str(y)
    return None


class _Schema:
    """The snapshot's tables with their foreign keys as an undirected graph (for join paths)."""

    def __init__(self, tables: list[dict], quote):
        self.tables = {t["name"]: t for t in tables}
        self.quote = quote
        self.edges: dict[str, list[tuple[str, list[str], list[str]]]] = {n: [] for n in self.tables}
        for t in tables:
            for fk in t.get("foreign_keys") or []:
                other = fk["referred_table"]
                if other in self.tables and other != t["name"]:
                    self.edges[t["name"]].append((other, fk["columns"], fk["referred_columns"]))
                    self.edges[other].append((t["name"], fk["referred_columns"], fk["columns"]))

    def ref(self, name: str) -> str:
        t = self.tables[name]
        full = f"{self.quote(t['schema'])}.{self.quote(name)}" if t.get("schema") else self.quote(name)
        return f"{full} AS {self.quote(name)}" if t.get("schema") else full

    def col(self, table: str, column: str) -> str:
        return f"{self.quote(table)}.{self.quote(column)}"

    def columns(self, table: str) -> list[dict]:
        return self.tables[table].get("columns") or []

    def path(self, start: str, goal: str) -> list[tuple[str, str, list[str], list[str]]] | None:
        """Join steps (from, to, from_cols, to_cols) along the shortest foreign-key path."""
        seen, frontier = {start: []}, [start]
        while frontier:
            nxt = []
            for name in frontier:
                for other, mine, theirs in self.edges[name]:
                    if other not in seen:
                        seen[other] = seen[name] + [(name, other, mine, theirs)]
                        nxt.append(other)
            if goal in seen:
                return seen[goal]
            frontier = nxt
        return None

    def nearest(self, start: str, pick) -> tuple[str, dict] | None:
        """The closest table (by foreign keys) with a column `pick` accepts, and that column."""
        seen, frontier = {start}, [start]
        while frontier:
            for name in frontier:
                column = next((c for c in self.columns(name) if pick(c)), None)
                if column is not None:
                    return name, column
            nxt = []
            for name in frontier:
                for other, _, _ in self.edges[name]:
                    if other not in seen:
                        seen.add(other)
                        nxt.append(other)
            frontier = nxt
        return None


def _is_numeric(column: dict) -> bool:
    return any(n in column["type"].upper() for n in NUMERIC) and not column.get("primary_key") and \
        not column["name"].lower().endswith("_id")


def _is_date(column: dict) -> bool:
    return any(d in column["type"].upper() for d in DATE_TYPES)


def _named(column: dict, names) -> bool:
    name = column["name"].lower()
    return any(name == n or name.endswith("_" + n) or name.startswith(n + "_") for n in names)


def _money_expression(schema: "_Schema", table: str) -> str | None:
    """quantity x unit price when a table has both (order lines), for "revenue" questions."""
    cols = schema.columns(table)
    quantity = next((c for c in cols if _named(c, QUANTITY) and _is_numeric(c)), None)
    price = next((c for c in cols if _named(c, ("price", "unit_price")) and _is_numeric(c)), None)
    if quantity and price:
        return f"{schema.col(table, quantity['name'])} * {schema.col(table, price['name'])}"
    return None


def _mentioned_tables(schema: _Schema, words: set[str]) -> list[str]:
    scored = [(_score_name(n, words), n) for n in schema.tables]
    return [n for score, n in sorted(scored, key=lambda x: -x[0]) if score > 0]


def translate_with_rules(question: str, tables: list[dict], *, dialect_quote=_quote, limit: int = 100,
                         today: date | None = None) -> Translation:
    """`tables`: the semantic snapshot's tables (name, schema, columns, foreign_keys, sample_values).

    Handles counts, sums/averages, extremes, rankings ("which product sold most"), groupings
    ("per country"), filters on known values (found in the analysed sample values, across joined
    tables) and periods ("last month", "in March"), joining tables along their foreign keys."""
    if not tables:
        return Translation(None, "The connection has no analysed tables yet; run analyze first.", "rules")
    today = today or datetime.now(timezone.utc).date()
    q = question.lower()
    words = {_stem(t) for t in _tokens(question)}
    schema = _Schema(tables, dialect_quote)

    # Known values named in the question (longest first, so "New York" wins over "York").
    filters: list[tuple[str, str, str]] = []
    for t in tables:
        for col, values in (t.get("sample_values") or {}).items():
            for value in sorted(values, key=len, reverse=True):
                if value and re.search(r"(?<![\w])" + re.escape(value.lower()) + r"(?![\w])", q):
                    filters.append((t["name"], col, value))
                    break
    mentioned = _mentioned_tables(schema, words)
    agg = next((fn for phrases, fn in AGG if any(re.search(r"\b" + re.escape(p) + r"\b", q) for p in phrases)), None)
    ranking = re.search(r"\b(which|what)\b", q) and re.search(r"\b(most|least|best|top|worst|fewest|highest|"
                                                                r"lowest|largest|biggest)\b", q)
    per = re.search(r"\b(?:per|by|for each|each)\s+([a-z_]+)", q)

    group: tuple[str, dict] | None = None  # (table, label column) the answer is grouped by
    measure_kind = "money" if any(w in q for w in MONEY_WORDS) else "quantity" if any(
        re.search(r"\b" + w + r"\b", q) for w in QUANTITY_WORDS) else None
    if ranking and mentioned:
        after = re.search(r"\b(?:which|what)\s+([a-z_]+)", q)
        named = [n for n in mentioned if after and _score_name(n, {_stem(after.group(1))})]
        group_table = named[0] if named else None
        # "Which product is the most expensive?" is an extreme of the product itself, not a ranking of
        # what points at it: rank only by a measure word or another table ("most orders").
        if group_table and not measure_kind and not [n for n in mentioned if n != group_table]:
            group_table = None
        if group_table:
            label = next((c for c in schema.columns(group_table) if _named(c, LABEL)), None)
            group = (group_table, label) if label else None
    elif per:
        word = _stem(per.group(1))
        for name in [*mentioned, *schema.tables]:
            column = next((c for c in schema.columns(name) if _stem(c["name"].lower()) == word), None)
            if column is None and _score_name(name, {word}):
                column = next((c for c in schema.columns(name) if _named(c, LABEL)), None)
            if column is not None:
                group = (name, column)
                break

    # The table whose rows are counted or measured.
    target = None
    if group and not ranking:  # "orders per country": the named table, else the grouped one itself
        target = next((n for n in mentioned if n != group[0]), group[0])
    elif group:
        # A ranking counts or measures the rows that point at the grouped entity (order lines per product).
        best = None
        for name in [n for n in mentioned if n != group[0]] + list(schema.tables):
            if name == group[0] or schema.path(name, group[0]) is None:
                continue
            cols = schema.columns(name)
            has = (measure_kind == "quantity" and any(_named(c, QUANTITY) and _is_numeric(c) for c in cols)) or \
                  (measure_kind == "money" and any(_named(c, MONEY) and _is_numeric(c) for c in cols))
            rank = (0 if name in mentioned else 1, 0 if has else 1, len(schema.path(name, group[0])))
            if best is None or rank < best[0]:
                best = (rank, name)
        target = best[1] if best else None
    if target is None:
        candidates = [n for n in mentioned if not group or n != group[0]] or mentioned
        if not candidates:
            if len(tables) == 1:
                candidates = [tables[0]["name"]]
            else:
                return Translation(None, "Could not tell which table the question is about; name the table "
                                         f"(one of: {', '.join(t['name'] for t in tables)}).", "rules")
        target = max(candidates, key=lambda n: (_score_name(n, words), schema.tables[n].get("row_count") or 0))

    # Measure column (sum/avg/extremes/rankings).
    measure = None
    if agg in ("SUM", "AVG", "MAX", "MIN") or ranking or measure_kind:
        numeric = [c for c in schema.columns(target) if _is_numeric(c)]
        scored = sorted(numeric, key=lambda c: (_score_name(c["name"], words),
                                                 measure_kind == "quantity" and _named(c, QUANTITY),
                                                 measure_kind == "money" and _named(c, MONEY)), reverse=True)
        if scored and (_score_name(scored[0]["name"], words) > 0 or measure_kind or len(scored) == 1):
            if measure_kind and not (_score_name(scored[0]["name"], words) or _named(
                    scored[0], QUANTITY if measure_kind == "quantity" else MONEY)):
                measure = None
            else:
                measure = scored[0]

    when = period(question, today)
    date_col = None
    if when:
        found = schema.nearest(target, _is_date)
        if found is None:
            return Translation(None, f"The question names a period ({when[2]}) but no table linked to "
                                     f"{target} has a date column.", "rules")
        date_col = found

    # Joins: from the target to every table a filter, the period or the grouping needs.
    needed = [f[0] for f in filters] + ([date_col[0]] if date_col else []) + ([group[0]] if group else [])
    joins, joined = [], {target}
    for name in needed:
        steps = schema.path(target, name) if name not in joined else []
        if steps is None:
            return Translation(None, f"No foreign-key path joins {target} to {name}.", "rules")
        for frm, to, mine, theirs in steps:
            if to in joined:
                continue
            on = " AND ".join(f"{schema.col(frm, a)} = {schema.col(to, b)}" for a, b in zip(mine, theirs))
            joins.append(f"JOIN {schema.ref(to)} ON {on}")
            joined.add(to)
    conditions = [f"{schema.col(t, c)} = '{v.replace(chr(39), chr(39) * 2)}'" for t, c, v in filters]
    if date_col:
        column = schema.col(date_col[0], date_col[1]["name"])
        conditions += [f"{column} >= '{when[0].isoformat()}'", f"{column} < '{when[1].isoformat()}'"]
    source = " ".join([f"FROM {schema.ref(target)}", *joins])
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    pk = next((c["name"] for c in schema.columns(target) if c.get("primary_key")), None)
    counted = f"COUNT(DISTINCT {schema.col(target, pk)})" if joins and pk else "COUNT(*)"
    top = re.search(r"\btop (\d{1,3})\b", q)
    n_top = int(top.group(1)) if top else 1

    money = _money_expression(schema, target) if measure_kind == "money" else None
    if group:
        key = schema.col(group[0], group[1]["name"])
        fn = "AVG" if agg == "AVG" else "SUM"
        if money:
            value, alias = f"{fn}({money})", f"{fn.lower()}_revenue"
        elif measure is not None and (measure_kind or agg in ("SUM", "AVG")):
            value, alias = f"{fn}({schema.col(target, measure['name'])})", f"{fn.lower()}_{measure['name']}"
        else:
            value, alias = counted, "count"
        order = "ASC" if re.search(r"\b(least|fewest|lowest|worst)\b", q) else "DESC"
        sql = (f"SELECT {key} AS {dialect_quote(group[1]['name'])}, {value} AS {alias} {source}{where} "
               f"GROUP BY {key} ORDER BY {alias} {order}")
        sql += f" LIMIT {n_top}" if ranking else f" LIMIT {limit}"
        what = f"{'ranks' if ranking else 'groups'} {group[0]} by {alias} of {target}"
    elif agg == "COUNT":
        sql, what = f"SELECT {counted} AS count {source}{where}", f"counts {target}"
    elif agg in ("SUM", "AVG") and measure is not None:
        alias = f"{agg.lower()}_{measure['name']}"
        sql = f"SELECT {agg}({schema.col(target, measure['name'])}) AS {alias} {source}{where}"
        what = f"computes the {'total' if agg == 'SUM' else 'average'} of {target}.{measure['name']}"
    elif agg in ("MAX", "MIN") and measure is not None:
        order = "DESC" if agg == "MAX" else "ASC"
        sql = (f"SELECT {dialect_quote(target)}.* {source}{where} ORDER BY "
               f"{schema.col(target, measure['name'])} {order} LIMIT {n_top}")
        what = f"finds the {target} with the {'highest' if agg == 'MAX' else 'lowest'} {measure['name']}"
    else:
        sql, what = f"SELECT {dialect_quote(target)}.* {source}{where} LIMIT {limit}", f"lists {target}"
    if filters:
        what += " where " + " and ".join(f"{t}.{c} = {v}" for t, c, v in filters)
    if when:
        what += f" in {when[2]} ({when[0].isoformat()} to {when[1].isoformat()}, by {date_col[0]}.{date_col[1]['name']})"
    return Translation(sql, f"Rule-based translation: {what}.", "rules")


SQL_PROMPT = """You translate questions into one read-only SQL SELECT for a {dialect} database.
Schema:
{schema}
Answer with the SQL only, no explanation, no code fences."""


def schema_text(tables: list[dict], sample_queries: list[dict] | None = None, *, examples: int = 6) -> str:
    """The snapshot as a model reads it: each table's columns (PK marked), its foreign keys (how to
    join), the analysed sample values (how filters are spelled), then a few of the connection's
    sample queries, those with a filter first."""
    lines = []
    for t in tables:
        cols = ", ".join(f"{c['name']} {c['type']}" + (" PK" if c.get("primary_key") else "")
                         for c in t.get("columns") or [])
        lines.append(f"- {t['name']}({cols})")
        for fk in t.get("foreign_keys") or []:
            lines.append(f"  join: {', '.join(fk['columns'])} -> {fk['referred_table']}"
                         f"({', '.join(fk['referred_columns'])})")
        for column, values in (t.get("sample_values") or {}).items():
            shown = ", ".join(repr(str(v)[:40]) for v in list(values)[:5])
            lines.append(f"  {column} values: {shown}")
    chosen = sorted((q for q in sample_queries or [] if q.get("sql")), key=lambda q: " WHERE " not in q["sql"])
    if chosen[:examples]:
        lines.append("Example queries:")
        lines += [f"- {q['question']}\n  {q['sql']}" for q in chosen[:examples]]
    return "\n".join(lines)


def extract_sql(text: str) -> str:
    fenced = re.search(r"```(?:sql)?\s*(.+?)```", text, re.S | re.I)
    sql = fenced.group(1) if fenced else text
    return sql.strip().rstrip(";").strip()


def translate_to_pipeline(question: str, collections: list[dict], *, limit: int = 100,
                          today: date | None = None) -> Translation:
    """The offline generator for MongoDB: one collection (no joins), as an aggregation pipeline
    (Extended JSON `{"collection", "pipeline"}`): filters on analysed values, periods on a date
    field, counts, sums/averages, extremes, rankings and groupings by a field."""
    import json

    if not collections:
        return Translation(None, "The connection has no analysed collections yet; run analyze first.", "rules")
    today = today or datetime.now(timezone.utc).date()
    q, words = question.lower(), {_stem(t) for t in _tokens(question)}
    mentioned = [c for c in collections if _score_name(c["name"], words) > 0]
    if not mentioned:  # no collection named: the one whose fields the question names ("which product")
        by_fields = [(sum(_score_name(f["name"], words) for f in c.get("columns") or []), c) for c in collections]
        best = max((score for score, _ in by_fields), default=0)
        mentioned = [c for score, c in by_fields if score == best and best > 0]
    if not mentioned and len(collections) > 1:
        return Translation(None, "Could not tell which collection the question is about; name it "
                                 f"(one of: {', '.join(c['name'] for c in collections)}).", "rules")
    coll = max(mentioned or collections, key=lambda c: (_score_name(c["name"], words), c.get("row_count") or 0))
    fields = [f for f in coll.get("columns") or [] if f["name"] != "_id"]
    numeric = [f for f in fields if any(t in f["type"] for t in ("INTEGER", "DOUBLE", "DECIMAL"))]
    match: dict = {}
    for field, values in (coll.get("sample_values") or {}).items():
        for value in sorted(values, key=len, reverse=True):
            if value and re.search(r"(?<![\w])" + re.escape(value.lower()) + r"(?![\w])", q):
                match[field] = value
                break
    when = period(question, today)
    if when:
        date_field = next((f for f in fields if "DATETIME" in f["type"]), None)
        if date_field is None:
            return Translation(None, f"The question names a period ({when[2]}) but {coll['name']} has no date "
                                     "field.", "rules")
        match[date_field["name"]] = {"$gte": {"$date": f"{when[0].isoformat()}T00:00:00Z"},
                                     "$lt": {"$date": f"{when[1].isoformat()}T00:00:00Z"}}
    pipeline: list[dict] = [{"$match": match}] if match else []
    agg = next((fn for phrases, fn in AGG if any(re.search(r"\b" + re.escape(p) + r"\b", q) for p in phrases)), None)
    scored = sorted(numeric, key=lambda f: _score_name(f["name"], words), reverse=True)
    measure = scored[0] if scored and (_score_name(scored[0]["name"], words) > 0 or len(scored) == 1) else None
    if any(w in q for w in QUANTITY_WORDS):
        measure = next((f for f in numeric if _named(f, QUANTITY)), measure)
    per = re.search(r"\b(?:per|by|for each|each)\s+([a-z_]+)", q)
    which = re.search(r"\b(?:which|what)\s+([a-z_]+)", q)
    group = None
    for word in ([per.group(1)] if per else []) + ([which.group(1)] if which else []):
        group = next((f for f in fields if _stem(f["name"].lower()) == _stem(word)), None)
        if group:
            break
    if group:
        value = {"$sum": f"${measure['name']}"} if measure is not None and agg != "COUNT" else {"$sum": 1}
        order = 1 if re.search(r"\b(least|fewest|lowest|worst)\b", q) else -1
        pipeline += [{"$group": {"_id": f"${group['name']}", "value": value}}, {"$sort": {"value": order}}]
        pipeline.append({"$limit": 1 if which and not per else limit})
        what = f"groups {coll['name']} by {group['name']}"
    elif agg == "COUNT":
        pipeline.append({"$count": "count"})
        what = f"counts {coll['name']}"
    elif agg in ("SUM", "AVG") and measure is not None:
        pipeline.append({"$group": {"_id": None, f"{agg.lower()}_{measure['name']}":
                                    {f"${agg.lower()}": f"${measure['name']}"}}})
        pipeline.append({"$project": {"_id": 0}})
        what = f"computes the {'total' if agg == 'SUM' else 'average'} of {coll['name']}.{measure['name']}"
    elif agg in ("MAX", "MIN") and measure is not None:
        pipeline += [{"$sort": {measure["name"]: -1 if agg == "MAX" else 1}}, {"$limit": 1}]
        what = f"finds the {coll['name']} document with the {'highest' if agg == 'MAX' else 'lowest'} {measure['name']}"
    else:
        pipeline.append({"$limit": limit})
        what = f"lists {coll['name']}"
    if match:
        what += " matching " + ", ".join(f"{k}" for k in match)
    return Translation(json.dumps({"collection": coll["name"], "pipeline": pipeline}),
                       f"Rule-based translation: {what}.", "rules")

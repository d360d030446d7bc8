"""MongoDB through pymongo: collections, a field schema inferred from sampled documents, and
read-only aggregation pipelines with a row limit and `maxTimeMS`.

A query is MongoDB Extended JSON: `{"collection": "orders", "pipeline": [...]}`, parsed by
pymongo's own `bson.json_util` and checked to be BSON-encodable. Stages and operators that write
(`$out`, `$merge`), run server-side JavaScript (`$function`, `$accumulator`, `$where`) or inspect
the server (`$currentOp`, `$listSessions`, ...) are refused anywhere in the pipeline, and a
`$limit` always ends it.
"""
from __future__ import annotations

import json
from datetime import date, datetime

from bson import json_util
from bson.errors import BSONError, InvalidDocument
from pymongo import MongoClient
from pymongo.errors import InvalidURI, PyMongoError
from pymongo.uri_parser import parse_uri

from .base import Connector, ConnectorError, QueryRejected, TableInfo, check_public_host, register

FORBIDDEN = {"$out", "$merge", "$function", "$accumulator", "$where", "$currentOp", "$listSessions",
             "$listLocalSessions", "$planCacheStats", "$collStats", "$indexStats", "$shardedDataDistribution",
             "$changeStream", "$listSearchIndexes"}
SAMPLE_DOCUMENTS = 100


def _type_name(value) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INTEGER"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, (datetime, date)):
        return "DATETIME"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, dict):
        return "OBJECT"
    if isinstance(value, list):
        return "ARRAY"
    return type(value).__name__.upper()  # ObjectId, Decimal128, ...


def _forbidden_keys(node, path="pipeline"):
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key in FORBIDDEN:
                yield key
            yield from _forbidden_keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _forbidden_keys(item)


@register
class MongoConnector(Connector):
    type = "mongodb"
    aliases = ("mongo", "mongodb+srv")
    sqlglot_dialect = ""
    query_language = "mongodb"

    def __init__(self, url: str, params: dict, *, allow_private: bool = False):
        super().__init__(url, params, allow_private=allow_private)
        try:
            parsed = parse_uri(url.strip(), warn=True) if not url.strip().startswith("mongodb+srv://") else None
        except (InvalidURI, ValueError) as exc:
            raise ConnectorError(f"Invalid MongoDB URL: {exc}", code="INVALID_DATABASE_URL") from exc
        self._nodes = parsed["nodelist"] if parsed else []
        self._database = (parsed or {}).get("database") or params.get("database")
        if not self._database:
            raise ConnectorError("The MongoDB URL must name a database (mongodb://host/<database>)",
                                 code="INVALID_DATABASE_URL")
        self._client = None

    @property
    def host(self) -> str | None:
        return ",".join(f"{h}:{p}" for h, p in self._nodes) or None

    def database(self):
        if self._client is None:
            for host, port in self._nodes:
                check_public_host(host, port, self.allow_private)
            self._client = MongoClient(self.url, serverSelectionTimeoutMS=10_000, connectTimeoutMS=10_000,
                                       readPreference="secondaryPreferred", appname="knowrithm")
        return self._client[self._database]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _wrap(self, exc: Exception) -> ConnectorError:
        return ConnectorError(str(exc).splitlines()[0][:500] or exc.__class__.__name__, code="DATABASE_ERROR")

    def test_connection(self) -> None:
        try:
            self.database().command("ping")
        except PyMongoError as exc:
            raise self._wrap(exc) from exc
        finally:
            self.close()

    def introspect(self, *, sample_values: bool = True) -> list[TableInfo]:
        try:
            db = self.database()
            tables = []
            for name in sorted(n for n in db.list_collection_names() if not n.startswith("system.")):
                collection = db[name]
                fields: dict[str, set] = {}
                strings: dict[str, set] = {}
                for doc in collection.find({}, limit=SAMPLE_DOCUMENTS):
                    for key, value in doc.items():
                        fields.setdefault(key, set()).add(_type_name(value))
                        if isinstance(value, str) and len(value) <= 60:
                            strings.setdefault(key, set()).add(value)
                columns = [{"name": key, "type": "/".join(sorted(types)), "nullable": True,
                            "primary_key": key == "_id"} for key, types in fields.items()]
                info = TableInfo(name=name, table_type="collection", columns=columns,
                                 row_count=collection.estimated_document_count())
                if sample_values:
                    info.sample_values = {k: sorted(v) for k, v in strings.items() if 0 < len(v) <= 25}
                tables.append(info)
            return tables
        except PyMongoError as exc:
            raise self._wrap(exc) from exc
        finally:
            self.close()

    def parse(self, query: str) -> tuple[str, list]:
        """(collection, pipeline) of a query, parsed by pymongo's Extended JSON reader."""
        try:
            body = json_util.loads(query)
        except (ValueError, TypeError, BSONError) as exc:
            raise QueryRejected(f"The query is not MongoDB Extended JSON: {exc}") from exc
        if not isinstance(body, dict) or not isinstance(body.get("collection"), str) or \
                not isinstance(body.get("pipeline", []), list):
            raise QueryRejected('A MongoDB query is {"collection": "<name>", "pipeline": [<stages>]}')
        collection, pipeline = body["collection"], body.get("pipeline", [])
        if not collection or collection.startswith("system.") or "$" in collection:
            raise QueryRejected(f"Collection {collection!r} cannot be queried")
        if any(not isinstance(stage, dict) or len(stage) != 1 for stage in pipeline):
            raise QueryRejected("Each pipeline stage is an object with one operator")
        bad = sorted(set(_forbidden_keys(pipeline)))
        if bad:
            raise QueryRejected(f"Not allowed in a read-only query: {', '.join(bad)}")
        try:
            from bson import encode

            encode({"pipeline": pipeline})
        except (InvalidDocument, TypeError, OverflowError) as exc:
            raise QueryRejected(f"The pipeline is not valid BSON: {exc}") from exc
        return collection, pipeline

    def validate_select(self, sql: str, *, limit: int) -> str:
        """The query with a `$limit` (at most `limit`) at the end, as canonical Extended JSON."""
        collection, pipeline = self.parse(sql)
        last = pipeline[-1] if pipeline else {}
        if "$limit" in last and isinstance(last["$limit"], int) and 0 < last["$limit"] <= limit:
            capped = pipeline
        else:
            capped = [*pipeline, {"$limit": limit}]
        return json_util.dumps({"collection": collection, "pipeline": capped})

    def execute_read(self, sql: str, *, limit: int = 100, timeout_seconds: int = 15) -> tuple[list[str], list[list]]:
        collection, pipeline = self.parse(self.validate_select(sql, limit=limit))
        try:
            cursor = self.database()[collection].aggregate(pipeline, maxTimeMS=int(timeout_seconds * 1000),
                                                           allowDiskUse=False)
            docs = list(cursor)[:limit]
        except PyMongoError as exc:
            raise self._wrap(exc) from exc
        finally:
            self.close()
        columns: list[str] = []
        for doc in docs:
            columns += [k for k in doc if k not in columns]
        rows = [[_plain(doc.get(c)) for c in columns] for doc in docs]
        return columns, rows


def _plain(value):
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (dict, list)):

        return json.loads(json_util.dumps(value))
    return str(value)  # ObjectId, Decimal128

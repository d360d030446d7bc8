"""Flask's JSON provider on orjson: the same output as Flask's default (dates as HTTP dates,
`Decimal` and `UUID` as strings, dataclasses as objects, compact, keys in insertion order) for
a fraction of the CPU. Serialising the body was the largest share of a cached read's own time
(BENCHMARKS.md, "Authenticated reads against bare Flask")."""
from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider, _default

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS


class OrjsonProvider(DefaultJSONProvider):
    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return self._encode(obj, kwargs).decode()

    def _encode(self, obj: Any, kwargs: dict) -> bytes:
        if kwargs.get("indent") or kwargs.get("sort_keys") or self.sort_keys:
            return super().dumps(obj, **kwargs).encode()  # pretty or sorted output: the standard library
        try:
            return orjson.dumps(obj, default=_default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            # What orjson refuses (integers beyond 64 bits) the standard library writes, or
            # raises the same TypeError Flask's provider would.
            return super().dumps(obj, **kwargs).encode()

    def response(self, *args: Any, **kwargs: Any):
        obj = self._prepare_response_obj(args, kwargs)
        pretty = (self.compact is None and self._app.debug) or self.compact is False
        body = self._encode(obj, {"indent": 2} if pretty else {"separators": (",", ":")})
        return self._app.response_class(body + b"\n", mimetype=self.mimetype)

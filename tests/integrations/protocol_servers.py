"""Loopback servers that speak the vendors' real wire protocols, for testing the real SDKs.

Each server answers the HTTP routes, auth headers, JSON bodies, SSE framing and error bodies its
vendor documents, so the official SDK runs unmodified against it (only its base URL changes):

    with OpenAIServer() as server:            # server.base_url -> "http://127.0.0.1:<port>/v1"
        server.fail_next(429, 503)            # the next two requests fail, then normal answers
        server.fail_model["gpt-bad"] = 503    # this model always fails
        server.delay_model["gpt-slow"] = 2.0  # this model answers after 2 s
        server.reply = "Paris is the capital."
        ...
        server.requests                       # what the SDK sent: [{"path", "headers", "json"}]

Servers: OpenAIServer (/v1/chat/completions JSON + SSE, /v1/embeddings), GeminiServer
(/v1 or /v1beta/models/<m>:generateContent, :streamGenerateContent?alt=sse, :batchEmbedContents, :embedContent),
AnthropicServer (/v1/messages JSON + SSE events). Token usage is counted from the request (words),
embeddings are deterministic hashed bags of words (similar texts get similar vectors).
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import threading
import time
import uuid
from collections import deque

from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

API_KEY = "test-key"


def count_words(text: str) -> int:
    return len(re.findall(r"\w+", text or ""))


def fake_embedding(text: str, dimension: int) -> list[float]:
    vector = [0.0] * dimension
    for word in re.findall(r"\w+", (text or "").lower()):
        h = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "big")
        vector[h % dimension] += 1.0 if (h >> 32) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def chunks_of(text: str) -> list[str]:
    """How the reply is split into stream deltas: word by word, keeping the spaces."""
    return re.findall(r"\S+\s*", text) or [""]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # tests read server.requests instead of access logs
        pass


class ProtocolServer:
    vendor = "base"
    prefix = ""

    def __init__(self, *, api_key: str = API_KEY, reply: str = "Hello from the test server.",
                 embedding_dimension: int = 8):
        self.api_key = api_key
        self.reply = reply
        self.embedding_dimension = embedding_dimension
        self.requests: list[dict] = []
        self.fail_model: dict[str, int] = {}
        self.delay_model: dict[str, float] = {}
        self._faults: deque[int] = deque()
        self._lock = threading.Lock()
        self._map = Map([Rule(path, endpoint=name) for path, name in self.routes()])
        self._server = None
        self._thread = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> "ProtocolServer":
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def base_url(self) -> str:
        """What the SDK's `base_url` should be set to."""
        return self.root_url + self.prefix

    # -- scripting --------------------------------------------------------------------------------

    def fail_next(self, *statuses: int) -> None:
        """The next len(statuses) API calls fail with these statuses, in order."""
        with self._lock:
            self._faults.extend(statuses)

    def calls(self, path_part: str = "") -> list[dict]:
        return [r for r in self.requests if path_part in r["path"]]

    # -- vendor hooks -----------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def presented_key(self, request: Request) -> str | None:
        raise NotImplementedError

    def error_response(self, status: int, message: str) -> Response:
        raise NotImplementedError

    def model_of(self, request: Request, body: dict, args: dict) -> str:
        return body.get("model", "")

    # -- plumbing ---------------------------------------------------------------------------------

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        try:
            endpoint, args = self._map.bind_to_environ(environ).match()
        except Exception:
            return self.error_response(404, f"No route {request.path}")(environ, start_response)
        body = request.get_json(silent=True) or {}
        self.requests.append({"path": request.full_path.rstrip("?"), "headers": dict(request.headers),
                              "json": body})
        if self.presented_key(request) != self.api_key:
            return self.auth_error()(environ, start_response)
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        model = self.model_of(request, body, args)
        fault = fault or self.fail_model.get(model)
        if fault:
            return self.error_response(fault, f"Injected failure {fault}")(environ, start_response)
        if model in self.delay_model:
            time.sleep(self.delay_model[model])
        extra = {k: v for k, v in args.items() if k != "model"}
        return getattr(self, endpoint)(request, body, model, **extra)(environ, start_response)

    def auth_error(self) -> Response:
        return self.error_response(401, "Invalid API key")

    @staticmethod
    def json(payload, status: int = 200, headers: dict | None = None) -> Response:
        return Response(json.dumps(payload), status=status, mimetype="application/json", headers=headers)

    @staticmethod
    def sse(events) -> Response:
        return Response(events, mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})

    @staticmethod
    def retry_headers(status: int) -> dict:
        # Real vendors send Retry-After on 429/503; milliseconds keep the tests fast.
        return {"retry-after-ms": "5", "retry-after": "0"} if status in (429, 503, 529) else {}


class OpenAIServer(ProtocolServer):
    vendor = "openai"
    prefix = "/v1"

    def routes(self):
        return [("/v1/chat/completions", "chat"), ("/v1/embeddings", "embeddings"), ("/v1/models", "models")]

    def presented_key(self, request):
        auth = request.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else None

    def error_response(self, status, message):
        kind = {401: ("invalid_request_error", "invalid_api_key"), 429: ("requests", "rate_limit_exceeded"),
                404: ("invalid_request_error", "model_not_found")}.get(status, ("server_error", None))
        body = {"error": {"message": message, "type": kind[0], "param": None, "code": kind[1]}}
        return self.json(body, status, self.retry_headers(status))

    def models(self, request, body, model):
        return self.json({"object": "list", "data": [{"id": "gpt-test", "object": "model", "owned_by": "test"}]})

    def _usage(self, body) -> dict:
        prompt = sum(count_words(m.get("content") if isinstance(m.get("content"), str) else json.dumps(m["content"]))
                     for m in body.get("messages", []))
        completion = count_words(self.reply)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def chat(self, request, body, model):
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())
        if not body.get("stream"):
            return self.json({
                "id": ident, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": self.reply},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": self._usage(body), "system_fingerprint": "fp_test",
            })
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        usage = self._usage(body)
        reply = self.reply

        def chunk(choices, usage_value=None):
            payload = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                       "system_fingerprint": "fp_test", "choices": choices}
            if include_usage:
                payload["usage"] = usage_value
            return f"data: {json.dumps(payload)}\n\n"

        def events():
            yield chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
            for piece in chunks_of(reply):
                yield chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
            yield chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])
            if include_usage:
                yield chunk([], usage)
            yield "data: [DONE]\n\n"

        return self.sse(events())

    def embeddings(self, request, body, model):
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
        dimension = body.get("dimensions") or self.embedding_dimension
        data = []
        for i, text in enumerate(inputs):
            vector = fake_embedding(text, dimension)
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{dimension}f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": vector})
        tokens = sum(count_words(t) for t in inputs)
        return self.json({"object": "list", "data": data, "model": model,
                          "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


class GeminiServer(ProtocolServer):
    vendor = "gemini"
    prefix = ""  # the SDK appends the API version (v1 by default in google-genai 3.x, v1beta before)

    def routes(self):
        version = "/<any(v1, v1beta):version>/models/<model>"
        return [(f"{version}:generateContent", "generate"),
                (f"{version}:streamGenerateContent", "stream_generate"),
                (f"{version}:batchEmbedContents", "batch_embed"),
                (f"{version}:embedContent", "embed")]

    def presented_key(self, request):
        return request.headers.get("x-goog-api-key") or request.args.get("key")

    def model_of(self, request, body, args):
        return args.get("model", "")

    def auth_error(self):
        # What the Gemini API really answers for a wrong key: 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
        return self.json({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                                    "status": "INVALID_ARGUMENT",
                                    "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                                 "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}, 400)

    def error_response(self, status, message):
        name = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}.get(status, "UNKNOWN")
        return self.json({"error": {"code": status, "message": message, "status": name}}, status,
                         self.retry_headers(status))

    def _prompt_tokens(self, body) -> int:
        texts = [p.get("text", "") for c in body.get("contents", []) for p in c.get("parts", [])]
        texts += [p.get("text", "") for p in (body.get("systemInstruction") or {}).get("parts", [])]
        return sum(count_words(t) for t in texts)

    def _usage(self, body, completion: int) -> dict:
        prompt = self._prompt_tokens(body)
        return {"promptTokenCount": prompt, "candidatesTokenCount": completion, "totalTokenCount": prompt + completion}

    def generate(self, request, body, model, version="v1beta"):
        return self.json({
            "candidates": [{"content": {"parts": [{"text": self.reply}], "role": "model"},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": self._usage(body, count_words(self.reply)),
            "modelVersion": model, "responseId": uuid.uuid4().hex[:16],
        })

    def stream_generate(self, request, body, model, version="v1beta"):
        if request.args.get("alt") != "sse":
            return self.error_response(400, "this test server only streams with alt=sse")
        pieces, reply = chunks_of(self.reply), self.reply

        def events():
            sent = ""
            for i, piece in enumerate(pieces):
                sent += piece
                last = i == len(pieces) - 1
                candidate = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
                if last:
                    candidate["finishReason"] = "STOP"
                payload = {"candidates": [candidate], "usageMetadata": self._usage(body, count_words(sent)),
                           "modelVersion": model, "responseId": "resp-stream"}
                yield f"data: {json.dumps(payload)}\r\n\r\n"

        return self.sse(events())

    def _vector(self, content: dict, dims) -> dict:
        text = " ".join(p.get("text", "") for p in content.get("parts", []))
        vector = fake_embedding(text, dims or self.embedding_dimension)
        # Like the real API, a shortened vector (outputDimensionality) is a truncation, not unit length.
        return {"values": [v * 0.7 for v in vector] if dims else vector}

    def batch_embed(self, request, body, model, version="v1beta"):
        return self.json({"embeddings": [self._vector(r["content"], r.get("outputDimensionality"))
                                         for r in body.get("requests", [])]})

    def embed(self, request, body, model, version="v1beta"):
        return self.json({"embedding": self._vector(body["content"], body.get("outputDimensionality"))})


class AnthropicServer(ProtocolServer):
    vendor = "anthropic"
    prefix = ""  # the SDK appends /v1/messages

    def routes(self):
        return [("/v1/messages", "messages")]

    def presented_key(self, request):
        # x-api-key historically; anthropic>=2 SDKs send the key as a Bearer token instead.
        auth = request.headers.get("Authorization", "")
        return request.headers.get("x-api-key") or (auth[7:] if auth.startswith("Bearer ") else None)

    def error_response(self, status, message):
        kind = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        return self.json({"type": "error", "error": {"type": kind, "message": message},
                          "request_id": "req_test"}, status, self.retry_headers(status))

    def _prompt_tokens(self, body) -> int:
        system = body.get("system") or ""
        system = system if isinstance(system, str) else " ".join(b.get("text", "") for b in system)
        turns = [m["content"] if isinstance(m["content"], str) else " ".join(b.get("text", "") for b in m["content"])
                 for m in body.get("messages", [])]
        return count_words(system) + sum(count_words(t) for t in turns)

    def messages(self, request, body, model):
        if not request.headers.get("anthropic-version"):
            return self.error_response(400, "anthropic-version header is required")
        if "max_tokens" not in body:
            return self.error_response(400, "max_tokens: Field required")
        ident = f"msg_{uuid.uuid4().hex[:20]}"
        prompt, completion = self._prompt_tokens(body), count_words(self.reply)
        if not body.get("stream"):
            return self.json({"id": ident, "type": "message", "role": "assistant", "model": model,
                              "content": [{"type": "text", "text": self.reply}], "stop_reason": "end_turn",
                              "stop_sequence": None, "usage": {"input_tokens": prompt, "output_tokens": completion}})
        reply = self.reply

        def event(name, payload):
            return f"event: {name}\ndata: {json.dumps(payload)}\n\n"

        def events():
            yield event("message_start", {"type": "message_start", "message": {
                "id": ident, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": prompt, "output_tokens": 1}}})
            yield event("content_block_start", {"type": "content_block_start", "index": 0,
                                                "content_block": {"type": "text", "text": ""}})
            yield event("ping", {"type": "ping"})
            for piece in chunks_of(reply):
                yield event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                    "delta": {"type": "text_delta", "text": piece}})
            yield event("content_block_stop", {"type": "content_block_stop", "index": 0})
            yield event("message_delta", {"type": "message_delta",
                                          "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                          "usage": {"output_tokens": completion}})
            yield event("message_stop", {"type": "message_stop"})

        return self.sse(events())

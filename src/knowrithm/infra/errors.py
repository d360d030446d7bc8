"""Domain errors and the one JSON error envelope (docs/api-compatibility.md, "Error envelope").

Services raise `ApiError` subclasses; `register_error_handlers` turns them, and every
HTTP or unexpected error, into `{"success": false, "error", "message", "code",
"error_code", "details"}` with the right status.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from .db import db

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 400
    code = "BAD_REQUEST"
    message = "Bad request"

    def __init__(self, message: str | None = None, *, code: str | None = None, details: Any = None,
                 status: int | None = None, headers: dict | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details
        self.headers = headers or {}


class ValidationFailed(ApiError):
    status, code, message = 400, "VALIDATION_ERROR", "Validation failed"


class Unauthorized(ApiError):
    status, code, message = 401, "UNAUTHORIZED", "Authentication required"


class Forbidden(ApiError):
    status, code, message = 403, "FORBIDDEN", "You do not have permission to do this"


class NotFound(ApiError):
    status, code, message = 404, "NOT_FOUND", "Not found"


class Conflict(ApiError):
    status, code, message = 409, "CONFLICT", "Conflict"


class PayloadTooLarge(ApiError):
    status, code, message = 413, "PAYLOAD_TOO_LARGE", "Request body too large"


class UnsupportedMediaType(ApiError):
    status, code, message = 415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported content type"


class Locked(ApiError):
    status, code, message = 423, "ACCOUNT_LOCKED", "Account locked"


class RateLimited(ApiError):
    status, code, message = 429, "RATE_LIMITED", "Too many requests"


class Unavailable(ApiError):
    status, code, message = 503, "SERVICE_UNAVAILABLE", "Service unavailable"


def envelope(message: str, code: str, details: Any = None) -> dict:
    body = {"success": False, "error": message, "message": message, "code": code, "error_code": code}
    if details is not None:
        body["details"] = details
    return body


def error_response(err: ApiError):
    resp = jsonify(envelope(err.message, err.code, err.details))
    resp.status_code = err.status
    for k, v in err.headers.items():
        resp.headers[k] = v
    return resp


_HTTP_CODES = {
    400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 408: "REQUEST_TIMEOUT", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG", 415: "UNSUPPORTED_MEDIA_TYPE", 422: "VALIDATION_ERROR", 429: "RATE_LIMITED",
    431: "HEADERS_TOO_LARGE",
}


def http_code(status: int) -> str:
    return _HTTP_CODES.get(status, "HTTP_ERROR")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return error_response(err)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        status = err.code or 500
        if status == 413:
            message = f"Request body exceeds the maximum size of {app.config.get('MAX_CONTENT_LENGTH')} bytes"
        elif status == 404:
            message = "The requested resource was not found"
        elif status == 405:
            message = "Method not allowed for this resource"
        else:
            message = err.description or err.name
        resp = jsonify(envelope(message, _HTTP_CODES.get(status, "HTTP_ERROR")))
        resp.status_code = status
        if status == 405 and err.valid_methods:
            resp.headers["Allow"] = ", ".join(err.valid_methods)
        return resp

    from sqlalchemy.exc import DataError

    @app.errorhandler(DataError)
    def _bad_value(err: DataError):
        # The database refused a value (too long, out of range, bad text): the client's input.
        _rollback()
        log.warning("database refused a value: %s", str(err.orig).splitlines()[0] if err.orig else err)
        detail = str(err.orig).splitlines()[0][:300] if err.orig else "invalid value"
        resp = jsonify(envelope("A value in the request is invalid for its field", "INVALID_VALUE",
                                {"database": [detail]}))
        resp.status_code = 400
        return resp

    from sqlalchemy.exc import OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    @app.errorhandler(PoolTimeout)
    def _database_busy(err: PoolTimeout):
        # Every connection of this process's pool stayed busy for the pool timeout: overload, which
        # the client may retry (SQLALCHEMY_POOL_SIZE / pgBouncer sizing: docs/runbooks.md).
        _rollback()
        log.error("database pool exhausted: %s", str(err).splitlines()[0])
        resp = jsonify(envelope("The service is busy; retry shortly", "DATABASE_BUSY"))
        resp.status_code = 503
        resp.headers["Retry-After"] = "2"
        return resp

    @app.errorhandler(OperationalError)
    def _database_unavailable(err: OperationalError):
        # The database (or pgBouncer in front of it) cannot be reached: restarting, failing over,
        # out of connections. An outage the client may retry, not a server bug; the pool's
        # pre-ping replaces the broken connections once it is back (docs/runbooks.md).
        _rollback()
        log.error("database unavailable: %s", str(err.orig).splitlines()[0] if err.orig else err)
        resp = jsonify(envelope("The database is unavailable; retry shortly", "DATABASE_UNAVAILABLE"))
        resp.status_code = 503
        resp.headers["Retry-After"] = "2"
        return resp

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        log.exception("unhandled error")
        _rollback()
        resp = jsonify(envelope("Internal server error", "INTERNAL_ERROR"))
        resp.status_code = 500
        return resp


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the original error matters more
        pass

"""Vendor failures in platform terms: one code per kind of failure, whatever the SDK.

`retryable` means "another attempt or another model may succeed" (rate limits, overload, timeouts,
network); the SDKs already retried with backoff by the time an error reaches us, so the caller's
next step for a retryable error is a fallback model, not another loop.
"""
from __future__ import annotations

from .base import LLMError

# status -> (code, retryable)
_BY_STATUS = {
    400: ("LLM_BAD_REQUEST", False),
    401: ("LLM_AUTH_FAILED", False),
    402: ("LLM_QUOTA_EXCEEDED", False),
    403: ("LLM_PERMISSION_DENIED", False),
    404: ("LLM_MODEL_NOT_FOUND", False),
    408: ("LLM_TIMEOUT", True),
    409: ("LLM_CONFLICT", True),
    413: ("LLM_REQUEST_TOO_LARGE", False),
    422: ("LLM_BAD_REQUEST", False),
    429: ("LLM_RATE_LIMITED", True),
}


def from_status(vendor: str, status: int | None, message: str) -> LLMError:
    if status in _BY_STATUS:
        code, retryable = _BY_STATUS[status]
    elif status is not None and status >= 500:  # includes Anthropic's 529 "overloaded"
        code, retryable = "LLM_UNAVAILABLE", True
    else:
        code, retryable = "LLM_ERROR", False
    return LLMError(f"{vendor}: {message}".strip(), code=code, status=status, retryable=retryable)


def timeout(vendor: str, seconds: float) -> LLMError:
    return LLMError(f"{vendor}: no response within {seconds:g}s", code="LLM_TIMEOUT", status=504, retryable=True)


def unreachable(vendor: str, detail: str) -> LLMError:
    return LLMError(f"{vendor}: cannot reach the server ({detail})", code="LLM_UNREACHABLE", status=502,
                    retryable=True)


def missing_key(vendor: str) -> LLMError:
    return LLMError(f"{vendor}: no API key configured", code="LLM_AUTH_FAILED", status=401, retryable=False)

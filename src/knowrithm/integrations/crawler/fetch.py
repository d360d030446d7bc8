"""Fetching a document given by URL, with a size cap and a guard against internal targets."""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlparse

import requests

USER_AGENT = "KnowrithmBot/1.0 (+document ingestion)"
MAX_REDIRECTS = 5


class FetchError(Exception):
    def __init__(self, message: str, code: str = "FETCH_FAILED"):
        super().__init__(message)
        self.code = code


@dataclass
class Fetched:
    url: str
    content: bytes
    content_type: str | None
    status: int


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse non-HTTP schemes and, unless allowed, hosts resolving to private, loopback or
    link-local addresses (SSRF: cloud metadata, internal admin panels)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise FetchError(f"Only http(s) URLs can be fetched: {url}", code="INVALID_URL")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80))
    except socket.gaierror:
        raise FetchError(f"Host not found: {parsed.hostname}", code="URL_UNREACHABLE") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise FetchError(f"Refusing to fetch {url}: it resolves to a non-public address", code="URL_FORBIDDEN")


def fetch(url: str, *, max_bytes: int, allow_private: bool = False, timeout: float = 20.0) -> Fetched:
    session = requests.Session()
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        check_url(current, allow_private=allow_private)
        try:
            resp = session.get(current, stream=True, timeout=timeout, allow_redirects=False,
                               headers={"User-Agent": USER_AGENT})
        except requests.RequestException as exc:
            raise FetchError(f"Could not fetch {current}: {exc.__class__.__name__}", code="URL_UNREACHABLE") from exc
        if resp.is_redirect:
            # Each hop is checked again: a public URL must not bounce to an internal one.
            current = urljoin(current, resp.headers.get("Location", ""))
            resp.close()
            continue
        if resp.status_code >= 400:
            resp.close()
            raise FetchError(f"Fetching {current} returned HTTP {resp.status_code}", code="URL_HTTP_ERROR")
        body = bytearray()
        for piece in resp.iter_content(64 * 1024):
            body.extend(piece)
            if len(body) > max_bytes:
                resp.close()
                raise FetchError(f"{current} is larger than the maximum of {max_bytes} bytes", code="FILE_TOO_LARGE")
        return Fetched(current, bytes(body), resp.headers.get("Content-Type"), resp.status_code)
    raise FetchError(f"Too many redirects fetching {url}", code="URL_UNREACHABLE")

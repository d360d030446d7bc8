"""Breadth-first crawl of one site.

Stays on the seed's host, honours robots.txt, allowed/disallowed path prefixes, a depth and
page budget, and fetches through the documents fetcher (size cap + SSRF guard on every hop).
The crawler only fetches and extracts links; storing pages and indexing them is the
websites domain's job.
"""
from __future__ import annotations

import hashlib
import time
import urllib.robotparser
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterator
from urllib.parse import urldefrag, urljoin, urlparse, urlunparse

from bs4 import BeautifulSoup

from .fetch import USER_AGENT, FetchError, Fetched, fetch

HTML_TYPES = ("text/html", "application/xhtml+xml")
SKIP_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".css", ".js", ".zip", ".gz", ".mp4", ".mp3",
                   ".woff", ".woff2", ".ttf", ".webp")


@dataclass
class CrawlRules:
    max_pages: int = 50
    max_depth: int = 2
    allowed_paths: list[str] = field(default_factory=list)
    disallowed_paths: list[str] = field(default_factory=list)
    max_bytes: int = 5 * 1024 * 1024
    allow_private: bool = False
    delay_seconds: float = 0.0
    respect_robots: bool = True
    use_sitemaps: bool = True


@dataclass
class CrawledPage:
    url: str
    depth: int
    status: int | None = None
    content: bytes = b""
    content_type: str | None = None
    title: str | None = None
    links: list[str] = field(default_factory=list)
    error: str | None = None
    excluded: bool = False

    @property
    def content_hash(self) -> str | None:
        return hashlib.sha256(self.content).hexdigest() if self.content else None


def normalise_url(url: str) -> str:
    """Canonical form used as the page key: no fragment, lower-case host, no default port, '/' path."""
    url, _ = urldefrag(url.strip())
    parts = urlparse(url)
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port in (None, 80 if parts.scheme == "http" else 443) else f"{host}:{port}"
    return urlunparse((parts.scheme.lower(), netloc, parts.path or "/", "", parts.query, ""))


def _allowed(url: str, rules: CrawlRules) -> bool:
    path = urlparse(url).path or "/"
    if any(path.startswith(p) for p in rules.disallowed_paths if p):
        return False
    if rules.allowed_paths and not any(path.startswith(p) for p in rules.allowed_paths if p):
        return False
    return not path.lower().endswith(SKIP_EXTENSIONS)


def _links(page_url: str, html: bytes) -> tuple[str | None, list[str]]:
    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(strip=True) if soup.title else None
    links = []
    for a in soup.find_all("a", href=True):
        href = a["href"].strip()
        if href.startswith(("mailto:", "tel:", "javascript:")):
            continue
        target = urljoin(page_url, href)
        if urlparse(target).scheme in ("http", "https"):
            links.append(normalise_url(target))
    return title, list(dict.fromkeys(links))


def _robots(origin: str, rules: CrawlRules, fetcher) -> urllib.robotparser.RobotFileParser | None:
    if not rules.respect_robots:
        return None
    parser = urllib.robotparser.RobotFileParser()
    try:
        fetched = fetcher(origin + "/robots.txt", max_bytes=512 * 1024, allow_private=rules.allow_private)
        parser.parse(fetched.content.decode("utf-8", "replace").splitlines())
    except FetchError:
        parser.parse([])  # no robots.txt: everything allowed
    return parser


def _sitemap_urls(origin: str, robots, rules: CrawlRules, fetcher, limit: int = 5000) -> list[str]:
    """Page URLs a site declares: `/sitemap.xml` and the sitemaps robots.txt names (one level of
    sitemap indexes followed)."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring  # sitemaps are untrusted XML (entity bombs)

    pending = list((robots.site_maps() if robots is not None else None) or []) or [origin + "/sitemap.xml"]
    seen, pages = set(), []
    while pending and len(seen) < 10 and len(pages) < limit:
        url = pending.pop(0)
        if url in seen:
            continue
        seen.add(url)
        try:
            root = fromstring(fetcher(url, max_bytes=rules.max_bytes, allow_private=rules.allow_private).content)
        except (FetchError, ParseError, DefusedXmlException):
            continue
        for loc in root.iter():
            if not loc.tag.endswith("loc") or not (loc.text or "").strip():
                continue
            target = loc.text.strip()
            (pending if root.tag.endswith("sitemapindex") else pages).append(target)
    return [normalise_url(u) for u in pages[:limit]]


def crawl(seeds: list[str], rules: CrawlRules,
          fetcher: Callable[..., Fetched] = fetch) -> Iterator[CrawledPage]:
    """Yields each page visited (fetched, failed or excluded), at most `rules.max_pages` fetched."""
    if not seeds:
        return
    start = urlparse(normalise_url(seeds[0]))
    origin = f"{start.scheme}://{start.netloc}"
    robots = _robots(origin, rules, fetcher)
    queue: deque[tuple[str, int]] = deque((normalise_url(s), 0) for s in seeds)
    if rules.use_sitemaps:
        # Declared pages are crawled even when no link within the depth budget reaches them.
        queue.extend((url, 0) for url in _sitemap_urls(origin, robots, rules, fetcher))
    seen: set[str] = set()
    unique: deque[tuple[str, int]] = deque()
    for url, depth in queue:
        if url not in seen:
            seen.add(url)
            unique.append((url, depth))
    queue = unique
    fetched = 0
    while queue and fetched < rules.max_pages:
        url, depth = queue.popleft()
        if urlparse(url).netloc != start.netloc:
            continue
        if not _allowed(url, rules) or (robots is not None and not robots.can_fetch(USER_AGENT, url)):
            yield CrawledPage(url=url, depth=depth, excluded=True)
            continue
        if fetched and rules.delay_seconds:
            time.sleep(rules.delay_seconds)
        fetched += 1
        page = CrawledPage(url=url, depth=depth)
        try:
            result = fetcher(url, max_bytes=rules.max_bytes, allow_private=rules.allow_private)
        except FetchError as exc:
            page.error = str(exc)
            yield page
            continue
        page.status, page.content, page.content_type = result.status, result.content, result.content_type
        if (result.content_type or "text/html").split(";")[0].strip() in HTML_TYPES:
            page.title, page.links = _links(result.url, result.content)
            if depth < rules.max_depth:
                for link in page.links:
                    if link not in seen and urlparse(link).netloc == start.netloc:
                        seen.add(link)
                        queue.append((link, depth + 1))
        yield page

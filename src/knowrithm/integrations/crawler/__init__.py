"""Website crawling: a polite breadth-first crawler bounded by depth, page count and paths."""
from .crawler import CrawledPage, CrawlRules, crawl, normalise_url

__all__ = ["CrawledPage", "CrawlRules", "crawl", "normalise_url"]

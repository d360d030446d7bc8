"""Ingestion: fetch -> parse -> chunk -> embed -> index (see `ingest.py`)."""

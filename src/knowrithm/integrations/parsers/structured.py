"""Row and record formats: CSV/TSV, JSON/JSONL, XML."""
from __future__ import annotations

import csv
import io
import json

from .base import Block, ParsedDocument, ParseError, ParseOptions, decode_text, register, row_text


@register("csv")
def parse_csv(data: bytes, options: ParseOptions) -> ParsedDocument:
    text = decode_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    doc = ParsedDocument()
    header: list[str] | None = None
    for count, row in enumerate(csv.reader(io.StringIO(text), dialect)):
        if count > options.max_rows:
            raise ParseError(f"The file has more than {options.max_rows} rows", code="TOO_LARGE")
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [h.strip() for h in row]
            continue
        doc.blocks.append(Block(row_text(header, row), "table_row"))
    if header is not None and not doc.blocks:
        doc.blocks.append(Block(" | ".join(header), "table_row"))
    return doc


def _flatten(value, prefix: str = "") -> list[str]:
    if isinstance(value, dict):
        out = []
        for key, inner in value.items():
            out.extend(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return [f"{prefix}: {', '.join(str(v) for v in value)}"] if value else []
        out = []
        for i, inner in enumerate(value):
            out.extend(_flatten(inner, f"{prefix}[{i}]"))
        return out
    return [f"{prefix}: {value}" if prefix else str(value)]


@register("json")
def parse_json(data: bytes, options: ParseOptions) -> ParsedDocument:
    text = decode_text(data).strip()
    try:
        records = [json.loads(text)]
    except ValueError:
        try:  # JSON Lines
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise ParseError(f"The file is corrupt: invalid JSON ({exc})", code="CORRUPT_FILE") from exc
    if len(records) == 1 and isinstance(records[0], list):
        records = records[0]
    doc = ParsedDocument()
    for record in records:
        if isinstance(record, dict):
            # One record = one table row, so a chunk never splits an object's fields apart.
            doc.blocks.append(Block(" | ".join(_flatten(record)), "table_row"))
        else:
            for line in _flatten(record):
                doc.blocks.append(Block(line, "paragraph"))
    return doc


@register("xml")
def parse_xml(data: bytes, options: ParseOptions) -> ParsedDocument:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "lxml-xml")
    doc = ParsedDocument()
    for node in soup.find_all(string=True):
        text = " ".join(node.split())
        if text:
            parent = node.parent.name if node.parent is not None else ""
            doc.blocks.append(Block(f"{parent}: {text}" if parent else text, "paragraph"))
    if not doc.blocks and data.strip():
        raise ParseError("The file is corrupt: no readable XML text", code="CORRUPT_FILE")
    return doc

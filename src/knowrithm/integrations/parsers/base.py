"""Document parsing: bytes in, an ordered list of structural blocks out.

A parser keeps the structure the chunker needs (headings with their level, paragraphs,
table rows, the page each came from); it does not decide chunk sizes. Parsers register
themselves per document type; `parse()` picks one by type.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import BinaryIO, Callable


class ParseError(Exception):
    """The file cannot be read: corrupt, encrypted, unsupported, or unsafe (zip bomb)."""

    def __init__(self, message: str, *, code: str = "PARSE_ERROR"):
        super().__init__(message)
        self.code = code


@dataclass
class Block:
    text: str
    kind: str = "paragraph"  # heading | paragraph | table_row | code
    level: int = 0           # heading level (1 = top)
    page: int | None = None


@dataclass
class ParsedDocument:
    blocks: list[Block] = field(default_factory=list)
    title: str | None = None
    page_count: int | None = None
    ocr_pages: int = 0
    metadata: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks if b.text)

    @property
    def word_count(self) -> int:
        return sum(len(b.text.split()) for b in self.blocks)


@dataclass
class ParseOptions:
    ocr_languages: str = "eng"
    max_uncompressed_bytes: int = 200 * 1024 * 1024
    max_compression_ratio: int = 100
    max_rows: int = 200_000


Parser = Callable[[bytes, ParseOptions], ParsedDocument]
_PARSERS: dict[str, Parser] = {}

# Extension -> document type. Several extensions share one parser.
EXTENSIONS = {
    "pdf": "pdf", "docx": "docx", "txt": "txt", "text": "txt", "log": "txt",
    "md": "markdown", "markdown": "markdown", "mdx": "mdx",
    "html": "html", "htm": "html", "xhtml": "html", "xml": "xml",
    "csv": "csv", "tsv": "csv", "json": "json", "jsonl": "json",
    "xlsx": "xlsx", "xlsm": "xlsx", "pptx": "pptx",
    "png": "image", "jpg": "image", "jpeg": "image", "tif": "image", "tiff": "image",
    "bmp": "image", "gif": "image", "webp": "image",
}
MIME_TYPES = {
    "application/pdf": "pdf", "text/html": "html", "application/xhtml+xml": "html", "text/plain": "txt",
    "text/markdown": "markdown", "text/csv": "csv", "application/json": "json", "application/xml": "xml",
    "text/xml": "xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "image/png": "image", "image/jpeg": "image", "image/tiff": "image", "image/gif": "image",
    "image/bmp": "image", "image/webp": "image",
}
ZIP_TYPES = {"docx", "xlsx", "pptx"}


def register(*doc_types: str):
    def wrap(fn: Parser) -> Parser:
        for t in doc_types:
            _PARSERS[t] = fn
        return fn

    return wrap


def supported_extensions() -> list[str]:
    return sorted(EXTENSIONS)


def detect_type(filename: str | None, mime_type: str | None = None) -> str | None:
    """The document type from the file name, else from the MIME type; None when unsupported."""
    if filename:
        ext = PurePosixPath(filename.lower()).suffix.lstrip(".")
        if ext in EXTENSIONS:
            return EXTENSIONS[ext]
    if mime_type:
        return MIME_TYPES.get(mime_type.split(";")[0].strip().lower())
    return None


def check_archive(data: bytes | BinaryIO, options: ParseOptions) -> None:
    """Refuse Office files whose zip would inflate beyond sane limits (zip bombs).

    Reads only the central directory; declared sizes are what zipfile enforces on read.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise ParseError("The file is corrupt: not a valid Office (zip) container", code="CORRUPT_FILE")
    total = sum(i.file_size for i in infos)
    packed = max(sum(i.compress_size for i in infos), 1)
    if total > options.max_uncompressed_bytes or (total > 10 * 1024 * 1024 and total / packed > options.max_compression_ratio):
        raise ParseError("The file expands to an unsafe size (possible zip bomb)", code="UNSAFE_ARCHIVE")


def sniff(fileobj: BinaryIO, doc_type: str) -> None:
    """Cheap content checks run at upload time, before anything is queued.

    Reads the first bytes and, for Office files, only the zip's central directory.
    """
    start = fileobj.tell()
    head = fileobj.read(1024)
    fileobj.seek(start)
    if not head:
        raise ParseError("The file is empty", code="EMPTY_FILE")
    if doc_type == "pdf" and b"%PDF" not in head:
        raise ParseError("The file is corrupt: not a PDF", code="CORRUPT_FILE")
    if doc_type in ZIP_TYPES:
        try:
            check_archive(fileobj, ParseOptions())
        finally:
            fileobj.seek(start)


def parse(data: bytes, doc_type: str, options: ParseOptions | None = None) -> ParsedDocument:
    from . import load_all

    load_all()
    options = options or ParseOptions()
    if not data:
        raise ParseError("The file is empty", code="EMPTY_FILE")
    parser = _PARSERS.get(doc_type)
    if parser is None:
        raise ParseError(f"Unsupported document type '{doc_type}'", code="UNSUPPORTED_TYPE")
    if doc_type in ZIP_TYPES:
        check_archive(data, options)
    try:
        parsed = parser(data, options)
    except ParseError:
        raise
    except Exception as exc:  # noqa: BLE001 - library errors on malformed input vary by library
        raise ParseError(f"The file could not be parsed ({doc_type}): {exc.__class__.__name__}: {exc}"[:500],
                         code="CORRUPT_FILE") from exc
    parsed.blocks = [b for b in parsed.blocks if b.text and b.text.strip()]
    return parsed


def decode_text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("cp1252", errors="replace")


def paragraphs(text: str, page: int | None = None) -> list[Block]:
    """Split plain text into paragraph blocks on blank lines."""
    blocks = []
    for part in text.replace("\r\n", "\n").split("\n\n"):
        part = " ".join(line.strip() for line in part.split("\n") if line.strip())
        if part:
            blocks.append(Block(part, "paragraph", page=page))
    return blocks


def row_text(header: list[str] | None, cells: list) -> str:
    values = ["" if c is None else str(c).strip() for c in cells]
    if header and len(header) >= len([v for v in values if v]):
        pairs = [f"{h}: {v}" if h else v for h, v in zip(header, values) if v]
        return " | ".join(pairs)
    return " | ".join(v for v in values if v)

"""File parsers: `parse(data, doc_type)` -> `ParsedDocument` of structural blocks."""
from .base import (Block, ParsedDocument, ParseError, ParseOptions, detect_type, parse, sniff,
                   supported_extensions)

__all__ = ["Block", "ParsedDocument", "ParseError", "ParseOptions", "detect_type", "parse", "sniff",
           "supported_extensions", "load_all"]


def load_all() -> None:
    from . import office, pdf, structured, text  # noqa: F401  (register themselves)

"""Office Open XML: DOCX (python-docx), XLSX (openpyxl), PPTX (python-pptx)."""
from __future__ import annotations

import io
import re

from .base import Block, ParsedDocument, ParseError, ParseOptions, register, row_text

_HEADING = re.compile(r"heading\s*(\d)", re.I)


def _docx_heading_level(style_name: str) -> int:
    if style_name.lower() == "title":
        return 1
    match = _HEADING.match(style_name)
    return int(match.group(1)) if match else 0


@register("docx")
def parse_docx(data: bytes, options: ParseOptions) -> ParsedDocument:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - python-docx raises assorted errors on bad zips
        raise ParseError(f"The file is corrupt: not a readable DOCX ({exc.__class__.__name__})",
                         code="CORRUPT_FILE") from exc
    doc = ParsedDocument()
    doc.title = (document.core_properties.title or "").strip() or None
    # Walk the body in order so tables stay where they are in the text.
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            text = item.text.strip()
            if not text:
                continue
            level = _docx_heading_level(item.style.name if item.style is not None else "")
            doc.blocks.append(Block(text, "heading" if level else "paragraph", level=level))
        elif isinstance(item, Table):
            rows = [[cell.text for cell in row.cells] for row in item.rows]
            if not rows:
                continue
            header = [h.strip() for h in rows[0]]
            doc.blocks.append(Block(" | ".join(h for h in header if h), "table_row"))
            for cells in rows[1:]:
                doc.blocks.append(Block(row_text(header, cells), "table_row"))
    return doc


@register("xlsx")
def parse_xlsx(data: bytes, options: ParseOptions) -> ParsedDocument:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001
        raise ParseError(f"The file is corrupt: not a readable XLSX ({exc.__class__.__name__})",
                         code="CORRUPT_FILE") from exc
    doc = ParsedDocument(page_count=len(workbook.sheetnames))
    rows_seen = 0
    for number, sheet in enumerate(workbook.worksheets, start=1):
        doc.blocks.append(Block(sheet.title, "heading", level=1, page=number))
        header: list[str] | None = None
        for row in sheet.iter_rows(values_only=True):
            if not any(v not in (None, "") for v in row):
                continue
            rows_seen += 1
            if rows_seen > options.max_rows:
                raise ParseError(f"The workbook has more than {options.max_rows} rows", code="TOO_LARGE")
            if header is None:
                header = ["" if v is None else str(v).strip() for v in row]
                continue
            doc.blocks.append(Block(row_text(header, list(row)), "table_row", page=number))
    workbook.close()
    return doc


@register("pptx")
def parse_pptx(data: bytes, options: ParseOptions) -> ParsedDocument:
    from pptx import Presentation

    try:
        deck = Presentation(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001
        raise ParseError(f"The file is corrupt: not a readable PPTX ({exc.__class__.__name__})",
                         code="CORRUPT_FILE") from exc
    doc = ParsedDocument(page_count=len(deck.slides))
    doc.title = (deck.core_properties.title or "").strip() or None
    for number, slide in enumerate(deck.slides, start=1):
        title_shape = slide.shapes.title
        if title_shape is not None and title_shape.has_text_frame and title_shape.text_frame.text.strip():
            doc.blocks.append(Block(title_shape.text_frame.text.strip(), "heading", level=1, page=number))
        for shape in slide.shapes:
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            if getattr(shape, "has_table", False) and shape.has_table:
                rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
                header = [h.strip() for h in rows[0]] if rows else None
                for cells in rows[1:]:
                    doc.blocks.append(Block(row_text(header, cells), "table_row", page=number))
            elif shape.has_text_frame:
                for para in shape.text_frame.paragraphs:
                    text = "".join(run.text for run in para.runs).strip()
                    if text:
                        doc.blocks.append(Block(text, "paragraph", page=number))
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame.text.strip() if slide.notes_slide.notes_text_frame else ""
            if notes:
                doc.blocks.append(Block(notes, "paragraph", page=number))
    return doc

"""PDF (text layer via pypdf, OCR for pages without one) and images (OCR)."""
from __future__ import annotations

import io

from knowrithm.integrations.ocr import OcrError, get_ocr

from .base import Block, ParsedDocument, ParseError, ParseOptions, paragraphs, register

# A page with fewer extracted characters than this is treated as scanned and sent to OCR.
MIN_TEXT_CHARS = 25
OCR_DPI_SCALE = 300 / 72


def _ocr(image, options: ParseOptions) -> str:
    try:
        return get_ocr("tesseract", options.ocr_languages).image_to_text(image)
    except OcrError as exc:
        raise ParseError(str(exc), code="OCR_FAILED") from exc


def _pdf_page_lines(text: str, page: int) -> list[Block]:
    # pypdf separates lines with "\n" and rarely marks paragraphs; a short line ending a
    # sentence is the best paragraph signal it gives us.
    blocks: list[Block] = []
    current: list[str] = []
    for line in text.replace("\r", "").split("\n"):
        line = line.strip()
        if not line:
            if current:
                blocks.append(Block(" ".join(current), "paragraph", page=page))
                current = []
            continue
        current.append(line)
        if line.endswith((".", "!", "?", ":")) and len(line) < 60:
            blocks.append(Block(" ".join(current), "paragraph", page=page))
            current = []
    if current:
        blocks.append(Block(" ".join(current), "paragraph", page=page))
    return blocks


@register("pdf")
def parse_pdf(data: bytes, options: ParseOptions) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Owner-password-only PDFs open with an empty user password.
            try:
                if not reader.decrypt(""):
                    raise ParseError("The PDF is password-protected", code="ENCRYPTED_FILE")
            except (FileNotDecryptedError, NotImplementedError):
                raise ParseError("The PDF is password-protected", code="ENCRYPTED_FILE") from None
        pages = list(reader.pages)
    except ParseError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise ParseError(f"The file is corrupt: {exc}"[:300], code="CORRUPT_FILE") from exc
    doc = ParsedDocument(page_count=len(pages))
    try:
        meta_title = (reader.metadata or {}).get("/Title")
        doc.title = str(meta_title).strip() or None if meta_title else None
    except Exception:  # noqa: BLE001 - broken info dictionaries are common and harmless
        doc.title = None
    pdfium_doc = None
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception:  # noqa: BLE001 - one bad page must not lose the rest
            text = ""
        if len(text.strip()) < MIN_TEXT_CHARS:
            if pdfium_doc is None:
                import pypdfium2 as pdfium

                pdfium_doc = pdfium.PdfDocument(data)
            image = pdfium_doc[number - 1].render(scale=OCR_DPI_SCALE).to_pil()
            ocr_text = _ocr(image, options)
            if len(ocr_text.strip()) > len(text.strip()):
                text = ocr_text
                doc.ocr_pages += 1
                doc.blocks.extend(paragraphs(text, page=number))
                continue
        doc.blocks.extend(_pdf_page_lines(text, number))
    if pdfium_doc is not None:
        pdfium_doc.close()
    return doc


@register("image")
def parse_image(data: bytes, options: ParseOptions) -> ParsedDocument:
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ParseError("The file is corrupt: not a readable image", code="CORRUPT_FILE") from exc
    doc = ParsedDocument(page_count=0)
    for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
        doc.page_count = number
        doc.blocks.extend(paragraphs(_ocr(frame.copy(), options), page=number))
        doc.ocr_pages += 1
        if number >= 50:
            break
    return doc

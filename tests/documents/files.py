"""Small real files of every supported format, built in memory for the tests."""
from __future__ import annotations

import io
import json
import zipfile


def pdf(pages: list[str], *, title: str | None = None, password: str | None = None) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    if title:
        c.setTitle(title)
    for text in pages:
        y = 800
        for line in text.split("\n"):
            c.drawString(60, y, line)
            y -= 16
        c.showPage()
    c.save()
    data = buf.getvalue()
    if password:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter()
        for page in PdfReader(io.BytesIO(data)).pages:
            writer.add_page(page)
        writer.encrypt(user_password=password, owner_password=password + "-owner")
        out = io.BytesIO()
        writer.write(out)
        data = out.getvalue()
    return data


def text_image(lines: list[str], size=(1400, 140)):
    from PIL import Image, ImageDraw, ImageFont

    height = max(size[1], 80 * len(lines) + 40)
    image = Image.new("RGB", (size[0], height), "white")
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.load_default(size=44)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    for i, line in enumerate(lines):
        draw.text((30, 30 + 80 * i), line, fill="black", font=font)
    return image


def png(lines: list[str]) -> bytes:
    buf = io.BytesIO()
    text_image(lines).save(buf, "PNG")
    return buf.getvalue()


def scanned_pdf(lines: list[str]) -> bytes:
    """A PDF whose only page is a picture of text: nothing but OCR can read it."""
    buf = io.BytesIO()
    text_image(lines).save(buf, "PDF", resolution=150)
    return buf.getvalue()


def docx(heading: str, paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx as _docx

    document = _docx.Document()
    document.add_heading(heading, level=1)
    for p in paragraphs:
        document.add_paragraph(p)
    if table:
        t = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                t.cell(r, c).text = value
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def xlsx(rows: list[list], sheet: str = "Prices") -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def pptx(slides: list[tuple[str, str]]) -> bytes:
    from pptx import Presentation

    deck = Presentation()
    for title, body in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    buf = io.BytesIO()
    deck.save(buf)
    return buf.getvalue()


def csv_bytes(rows: list[list[str]]) -> bytes:
    return "\n".join(",".join(r) for r in rows).encode()


def json_bytes(value) -> bytes:
    return json.dumps(value).encode()


def zip_bomb_docx() -> bytes:
    """A .docx-shaped zip whose one member inflates to 300 MB from a few hundred KB."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1024 * 1024)
            for _ in range(300):
                member.write(block)
    return buf.getvalue()

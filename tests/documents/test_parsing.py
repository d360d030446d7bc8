"""Parsers and the chunker on real in-memory files (no server needed)."""
from __future__ import annotations

import pytest

from knowrithm.domains.documents.pipeline.chunking import chunk_blocks, estimate_tokens
from knowrithm.domains.documents.pipeline.language import detect_language
from knowrithm.integrations.parsers import Block, ParseError, detect_type, parse
from tests.documents import files as make


@pytest.mark.parametrize("name,expected", [("a.PDF", "pdf"), ("b.mdx", "mdx"), ("c.htm", "html"), ("d.jsonl", "json"),
                                           ("e.tiff", "image"), ("f.exe", None), ("noext", None)])
def test_detect_type_by_extension(name, expected):
    assert detect_type(name) == expected


def test_detect_type_by_mime_for_urls():
    assert detect_type(None, "text/html; charset=utf-8") == "html"
    assert detect_type(None, "application/octet-stream") is None


def test_pdf_pages_docx_headings_tables_and_pptx_slides():
    pdf = parse(make.pdf(["First page words.", "Second page words."]), "pdf")
    assert pdf.page_count == 2 and [b.page for b in pdf.blocks] == [1, 2]
    docx = parse(make.docx("Benefits", ["Dental is covered."], [["Plan", "Cost"], ["Gold", "12"]]), "docx")
    assert [(b.kind, b.text) for b in docx.blocks] == [("heading", "Benefits"), ("paragraph", "Dental is covered."),
                                                       ("table_row", "Plan | Cost"), ("table_row", "Plan: Gold | Cost: 12")]
    deck = parse(make.pptx([("Q1", "Hire two engineers"), ("Q2", "Ship v2")]), "pptx")
    assert deck.page_count == 2 and [(b.kind, b.page) for b in deck.blocks] == [
        ("heading", 1), ("paragraph", 1), ("heading", 2), ("paragraph", 2)]


def test_structured_formats():
    rows = parse(make.xlsx([["sku", "stock"], ["A1", 4], [None, None], ["B2", 0]]), "xlsx")
    assert [b.text for b in rows.blocks] == ["Prices", "sku: A1 | stock: 4", "sku: B2 | stock: 0"]
    jsonl = parse(b'{"a": 1, "b": {"c": [1, 2]}}\n{"a": 2}\n', "json")
    assert [b.text for b in jsonl.blocks] == ["a: 1 | b.c: 1, 2", "a: 2"]
    xml = parse(b"<catalog><book><title>Dune</title><price>9</price></book></catalog>", "xml")
    assert [b.text for b in xml.blocks] == ["title: Dune", "price: 9"]
    tsv = parse(b"name\tteam\nAda\tCore\n", "csv")
    assert [b.text for b in tsv.blocks] == ["name: Ada | team: Core"]


def test_text_encodings_and_bad_json():
    assert parse("caf\u00e9 cr\u00e8me".encode("cp1252"), "txt").blocks[0].text == "caf\u00e9 cr\u00e8me"
    with pytest.raises(ParseError) as err:
        parse(b"{not json", "json")
    assert err.value.code == "CORRUPT_FILE"
    with pytest.raises(ParseError) as err:
        parse(b"", "txt")
    assert err.value.code == "EMPTY_FILE"


def test_chunker_keeps_heading_paths_pages_and_whole_rows():
    blocks = [Block("Manual", "heading", 1), Block("Intro words here.", page=1), Block("Install", "heading", 2, page=2)]
    blocks += [Block(f"Step {i} does something useful for the install process here.", page=2 + i // 20)
               for i in range(60)]
    blocks += [Block("Prices", "heading", 2, page=9)] + [Block(f"plan: p{i} | price: {i}", "table_row", page=9)
                                                        for i in range(100)]
    chunks = chunk_blocks(blocks)
    assert chunks[0].heading_path == "Manual" and chunks[0].content.startswith("Manual")
    install = [c for c in chunks if c.heading_path == "Manual > Install"]
    assert len(install) > 1 and install[0].page_number == 2 and install[-1].page_number > 2
    assert all(c.token_count <= 320 + 60 for c in chunks)
    # Consecutive prose chunks overlap by a sentence or so; table chunks never do.
    assert install[1].content.split(". ")[0] in install[0].content
    rows = [c for c in chunks if c.heading_path == "Manual > Prices"]
    lines = [line for c in rows for line in c.content.split("\n") if line.startswith("plan:")]
    assert lines == [f"plan: p{i} | price: {i}" for i in range(100)]


def test_chunker_splits_one_huge_paragraph_at_sentences():
    text = " ".join(f"Sentence {i} is about topic {i}." for i in range(400))
    chunks = chunk_blocks([Block(text)])
    assert len(chunks) > 5 and all(estimate_tokens(c.content) <= 320 for c in chunks)
    assert all(c.content.rstrip().endswith(".") for c in chunks)


def test_language_detection():
    assert detect_language("The quick brown fox jumps over the lazy dog near the river bank.") == "en"
    assert detect_language("Le renard brun rapide saute par-dessus le chien paresseux pr\u00e8s de la rivi\u00e8re.") == "fr"
    assert detect_language("1234 5678") is None

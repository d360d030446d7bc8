"""Plain text, Markdown/MDX (rendered with `markdown`, then read as HTML) and HTML."""
from __future__ import annotations

import re

from .base import Block, ParsedDocument, ParseOptions, decode_text, paragraphs, register, row_text

# Page furniture that is never knowledge.
BOILERPLATE_TAGS = ("script", "style", "noscript", "nav", "footer", "header", "aside", "form", "svg",
                    "iframe", "template", "button")
_BLOCK_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "tr", "dt", "dd",
               "figcaption", "td", "th", "div", "section", "article", "main")


@register("txt")
def parse_txt(data: bytes, options: ParseOptions) -> ParsedDocument:
    return ParsedDocument(blocks=paragraphs(decode_text(data)))


def html_blocks(html: str | bytes) -> ParsedDocument:
    from bs4 import BeautifulSoup, NavigableString, Tag

    soup = BeautifulSoup(html, "lxml")
    for tag in soup(BOILERPLATE_TAGS):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": ["navigation", "banner", "contentinfo"]}):
        tag.decompose()
    doc = ParsedDocument()
    if soup.title and soup.title.string:
        doc.title = " ".join(soup.title.string.split()) or None
    root = soup.find("main") or soup.find("article") or soup.body or soup

    def has_block_child(tag: Tag) -> bool:
        return any(isinstance(c, Tag) and c.name in _BLOCK_TAGS for c in tag.descendants)

    header: list[str] | None = None
    for tag in root.find_all(_BLOCK_TAGS):
        name = tag.name
        if name in ("td", "th"):
            continue  # read through their row
        if name == "tr":
            cells = [" ".join(c.get_text(" ").split()) for c in tag.find_all(["td", "th"])]
            if tag.find("th") and header is None:
                header = cells
                doc.blocks.append(Block(" | ".join(cells), "table_row"))
            else:
                doc.blocks.append(Block(row_text(header, cells), "table_row"))
            continue
        if tag.find_parent("tr") is not None or tag.find_parent("pre") is not None:
            continue
        if name in ("div", "section", "article", "main", "li", "blockquote", "dd") and has_block_child(tag):
            # Only its direct text: nested blocks are visited on their own.
            direct = " ".join(" ".join(c.split()) for c in tag.children if isinstance(c, NavigableString))
            if direct.strip():
                doc.blocks.append(Block(direct.strip(), "paragraph"))
            continue
        if name == "pre":
            text = tag.get_text().strip("\n")
            if text.strip():
                doc.blocks.append(Block(text, "code"))
            continue
        text = " ".join(tag.get_text(" ").split())
        if not text:
            continue
        if name[0] == "h" and name[1:].isdigit():
            doc.blocks.append(Block(text, "heading", level=int(name[1:])))
        else:
            doc.blocks.append(Block(text, "paragraph"))
    if not doc.blocks:
        doc.blocks = paragraphs(root.get_text("\n\n"))
    return doc


@register("html")
def parse_html(data: bytes, options: ParseOptions) -> ParsedDocument:
    return html_blocks(data)


_MDX_LINES = re.compile(r"^\s*(import|export)\s.*$", re.M)
_JSX_SELF_CLOSING = re.compile(r"<[A-Z][A-Za-z0-9.]*(\s[^<>]*)?/>")
_JSX_TAGS = re.compile(r"</?[A-Z][A-Za-z0-9.]*(\s[^<>]*)?>")


def markdown_blocks(text: str) -> ParsedDocument:
    import markdown

    html = markdown.markdown(text, extensions=["tables", "fenced_code", "sane_lists"])
    doc = html_blocks(f"<html><body>{html}</body></html>")
    first_heading = next((b for b in doc.blocks if b.kind == "heading"), None)
    doc.title = first_heading.text if first_heading else None
    return doc


@register("markdown")
def parse_markdown(data: bytes, options: ParseOptions) -> ParsedDocument:
    return markdown_blocks(decode_text(data))


@register("mdx")
def parse_mdx(data: bytes, options: ParseOptions) -> ParsedDocument:
    # MDX is Markdown plus ES module lines and JSX components: drop the code, keep the prose.
    text = decode_text(data)
    text = _MDX_LINES.sub("", text)
    text = _JSX_SELF_CLOSING.sub("", text)
    text = _JSX_TAGS.sub("", text)
    return markdown_blocks(text)

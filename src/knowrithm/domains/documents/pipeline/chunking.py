"""Structure-aware chunking.

Chunks follow the document's structure: a heading starts a new chunk and becomes part
of the heading path of every chunk under it; paragraphs are packed up to a token budget
and split at sentence boundaries when too long; table rows are packed whole (never
split) and never overlap. Consecutive prose chunks share a short overlap so an answer
straddling a boundary is still found in one piece.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from knowrithm.integrations.parsers import Block

# all-MiniLM-L6-v2 reads 256 word pieces; ~1.3 pieces per English word.
TARGET_TOKENS = 256
MAX_TOKENS = 320
OVERLAP_TOKENS = 40
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


def estimate_tokens(text: str) -> int:
    return int(len(text.split()) * 1.3) + 1


@dataclass
class Chunk:
    content: str
    page_number: int | None = None
    heading_path: str | None = None
    kinds: set[str] = field(default_factory=set)

    @property
    def word_count(self) -> int:
        return len(self.content.split())

    @property
    def token_count(self) -> int:
        return estimate_tokens(self.content)

    def embedding_text(self) -> str:
        return embedding_text(self.content, self.heading_path)


def embedding_text(content: str, heading_path: str | None) -> str:
    """What the embedder sees: the section path gives short chunks their context."""
    if heading_path and not content.startswith(heading_path.split(" > ")[-1]):
        return f"{heading_path}\n{content}"
    return content


@dataclass
class _Piece:
    text: str
    kind: str
    page: int | None
    tokens: int


def _split_long(block: Block, max_tokens: int) -> list[_Piece]:
    """Sentences (or word windows for run-on text) no longer than `max_tokens`."""
    pieces: list[_Piece] = []
    for sentence in _SENTENCE.split(block.text):
        words = sentence.split()
        step = max(int(max_tokens / 1.3) - 1, 1)
        for start in range(0, len(words), step):
            text = " ".join(words[start:start + step])
            pieces.append(_Piece(text, block.kind, block.page, estimate_tokens(text)))
    return pieces


class _Packer:
    def __init__(self, target: int, overlap: int, max_tokens: int):
        self.target, self.overlap, self.max_tokens = target, overlap, max_tokens
        self.chunks: list[Chunk] = []
        self.current: list[_Piece] = []
        self.carried = 0  # leading pieces of `current` copied from the previous chunk
        self.heading_path: str | None = None

    def _tokens(self) -> int:
        return sum(p.tokens for p in self.current)

    def flush(self, keep_overlap: bool) -> None:
        if len(self.current) > self.carried:
            fresh = self.current[self.carried:]
            sep = lambda p: "\n" if p.kind in ("table_row", "heading", "code") else " "  # noqa: E731
            text = self.current[0].text
            for prev, piece in zip(self.current, self.current[1:]):
                text += ("\n" if sep(prev) == "\n" or sep(piece) == "\n" else " ") + piece.text
            self.chunks.append(Chunk(text.strip(), fresh[0].page, self.heading_path,
                                     {p.kind for p in self.current}))
        tail: list[_Piece] = []
        if keep_overlap and self.overlap:
            budget = self.overlap
            for piece in reversed(self.current):
                if piece.kind != "paragraph" or piece.tokens > budget:
                    break
                tail.insert(0, piece)
                budget -= piece.tokens
        self.current, self.carried = tail, len(tail)

    def add(self, piece: _Piece) -> None:
        size = self._tokens()
        # A small start (a title line, a short lead-in) stays with what follows, up to the hard cap.
        small_start = size < self.target // 4 and size + piece.tokens <= self.max_tokens
        if len(self.current) > self.carried and size + piece.tokens > self.target and not small_start:
            self.flush(keep_overlap=piece.kind == "paragraph")
        self.current.append(piece)


def chunk_blocks(blocks: list[Block], *, target_tokens: int = TARGET_TOKENS, max_tokens: int = MAX_TOKENS,
                 overlap_tokens: int = OVERLAP_TOKENS) -> list[Chunk]:
    packer = _Packer(target_tokens, overlap_tokens, max_tokens)
    headings: list[tuple[int, str]] = []
    for block in blocks:
        text = block.text.strip()
        if not text:
            continue
        if block.kind == "heading":
            packer.flush(keep_overlap=False)
            level = block.level or 1
            headings = [(lvl, t) for lvl, t in headings if lvl < level] + [(level, text)]
            packer.heading_path = " > ".join(t for _, t in headings)
            # The heading text opens its section's first chunk, so keyword search sees it.
            packer.current.append(_Piece(text, "heading", block.page, estimate_tokens(text)))
            continue
        tokens = estimate_tokens(text)
        if tokens > max_tokens and block.kind != "table_row":
            for piece in _split_long(block, target_tokens // 2):
                packer.add(piece)
        else:
            packer.add(_Piece(text, block.kind, block.page, tokens))
    packer.flush(keep_overlap=False)
    # A lone heading with nothing under it (e.g. an empty section) is not worth a chunk
    # unless it is all the document has.
    chunks = [c for c in packer.chunks if c.kinds != {"heading"}] or packer.chunks
    return chunks

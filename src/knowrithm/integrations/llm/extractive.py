"""The offline default answerer: quotes the passages' most relevant sentences with [Source N] citations.

There is no small generative model with bundled weights (README, "What is embedded and what is real"), so a fresh install
answers by selection, never by invention: every sentence in the answer is copied from a passage, the
answer says so, and when nothing in the passages matches the question it says it does not know
(`Completion.answered = False`).

Scoring is BM25 over the passages' sentences (the passages are already the retriever's best chunks,
so the job is only to find the sentences inside them that carry the answer). When no sentence shares
the question's words, cosine similarity from the offline embedder gets a second look to catch
paraphrases ("money back" for "refund"); `extra["semantic"]` = True always blends both, False never.
"""
from __future__ import annotations

import math
import re
import threading
from array import array
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Iterator

from ..embeddings.base import EmbeddingConfig, EmbeddingError, get_embedder
from .base import ChatMessage, Completion, LLMAdapter, LLMConfig, Passage, register

MODEL_NAME = "extractive-v1"
HEADER = "Based on the documents:"
# Plain text (no markdown): the widget and most clients show answers as text.
FOOTER = ("(Extractive answer: the sentences above are quoted verbatim from your documents; "
          "no language model wrote them.)")
NO_ANSWER = ("I don't know: none of the documents I have covers that question. "
             "Try rephrasing it, or add a document that answers it.")

STOPWORDS = frozenset("""
a about above after again against all am an and any are aren't as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself
him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most
mustn't my myself no nor not of off on once only or other ought our ours ourselves out over own same shan't
she she'd she'll she's should shouldn't so some such than that that's the their theirs them themselves then
there there's these they they'd they'll they're they've this those through to too under until up very was
wasn't we we'd we'll we're we've were weren't what what's when when's where where's which while who who's
whom why why's will with won't would wouldn't you you'd you'll you're you've your yours yourself yourselves
please tell know explain describe give get want need also just does do us may might must shall
long much many often take takes taking find way ways mean means anything something someone thing things
""".split())

_WORD = re.compile(r"[\w']+", re.UNICODE)
EMBEDDING_MODEL = "all-MiniLM-L6-v2"
# Sentence (and question) vectors of the semantic pass, per process. Popular chunks come back in
# chat after chat, and embedding their ~20 sentences each time cost more CPU than the rest of an
# answer. array('d') keeps an entry near 3 KB: 4,096 of them are ~13 MB.
_VECTORS: OrderedDict[str, array] = OrderedDict()
_VECTORS_MAX = 4096
_VECTORS_LOCK = threading.Lock()
# A sentence ends at . ! ? followed by space and an upper-case letter/digit/quote, or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n|\n(?=\s*[-*•\d])")


def tokens(text: str) -> list[str]:
    """Lower-cased content words with a light suffix strip, so 'refunds' matches 'refund'."""
    out = []
    for word in _WORD.findall(text.lower()):
        word = word.strip("'")
        if len(word) < 2 or word in STOPWORDS:
            continue
        for suffix in ("ies", "ing", "ed", "es", "s"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
                break
        out.append(word)
    return out


def split_sentences(text: str) -> list[str]:
    parts = (p.strip() for p in _SENTENCE_END.split(text or ""))
    return [re.sub(r"\s+", " ", p) for p in parts if p and len(_WORD.findall(p)) >= 3]


def approx_tokens(text: str) -> int:
    # ~4 characters per token for English BPE vocabularies; good enough for usage accounting.
    return max(1, math.ceil(len(text) / 4)) if text else 0


@dataclass
class _Sentence:
    text: str
    passage: Passage
    position: int
    terms: list[str]
    score: float = 0.0
    matched: int = 0


def sentence_vectors(texts: list[str]) -> list[array]:
    """Offline-embedder vectors of `texts`, embedding only those not seen recently."""
    with _VECTORS_LOCK:
        found = {t: _VECTORS[t] for t in texts if t in _VECTORS}
        for t in found:
            _VECTORS.move_to_end(t)
    missing = list(dict.fromkeys(t for t in texts if t not in found))
    if missing:
        embedder = get_embedder("local", EmbeddingConfig(model=EMBEDDING_MODEL))
        fresh = {t: array("d", v) for t, v in zip(missing, embedder.embed_documents(missing))}
        found.update(fresh)
        with _VECTORS_LOCK:
            _VECTORS.update(fresh)
            while len(_VECTORS) > _VECTORS_MAX:
                _VECTORS.popitem(last=False)
    return [found[t] for t in texts]


def bm25(query: list[str], docs: list[list[str]], k1: float = 1.2, b: float = 0.75) -> list[tuple[float, int]]:
    """(score, distinct query terms matched) per document."""
    n = len(docs)
    avg = sum(len(d) for d in docs) / n if n else 0.0
    df = Counter(t for d in docs for t in set(d))
    unique = set(query)
    out = []
    for doc in docs:
        freq = Counter(doc)
        score, matched = 0.0, 0
        for term in unique:
            tf = freq.get(term, 0)
            if not tf:
                continue
            matched += 1
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / (avg or 1)))
        out.append((score, matched))
    return out


@register
class ExtractiveAnswerer(LLMAdapter):
    name = "extractive"

    def __init__(self, config: LLMConfig):
        super().__init__(config)
        self.max_sentences = int(config.extra.get("max_sentences", 4))
        # A sentence must cover this share of the question's content words (or be semantically close).
        self.min_coverage = float(config.extra.get("min_coverage", 0.3))
        # "auto": embeddings only when the words found nothing (paraphrases), so the common case stays
        # fast; True: always blend both; False: words only.
        self.semantic = config.extra.get("semantic", "auto")
        # all-MiniLM-L6-v2: question/answer pairs score ~0.4-0.7, unrelated sentences below ~0.3.
        self.min_cosine = float(config.extra.get("min_cosine", 0.4))

    def complete(self, messages: list[ChatMessage], *, passages: list[Passage] | None = None) -> Completion:
        question = next((m.content for m in reversed(messages) if m.role == "user"), "")
        prompt_tokens = sum(approx_tokens(m.content) for m in messages) + sum(
            approx_tokens(p.content) for p in passages or [])
        chosen = self.select(question, passages or [])
        if not chosen:
            return Completion(NO_ANSWER, self.model, prompt_tokens, approx_tokens(NO_ANSWER), answered=False,
                              finish_reason="no_answer")
        text = self.compose(chosen)
        return Completion(text, self.model, prompt_tokens, approx_tokens(text), answered=True, finish_reason="stop")

    def stream(self, messages: list[ChatMessage], *, passages: list[Passage] | None = None) -> Iterator[str]:
        # Line by line, so a streaming client renders it the same way it renders a model's deltas.
        completion = self.complete(messages, passages=passages)
        self.last_completion = completion
        yield from completion.text.splitlines(keepends=True)

    def test_connection(self) -> Completion:
        return Completion("pong", self.model, 1, 1)

    @property
    def model(self) -> str:
        return self.config.model or MODEL_NAME

    # -- selection ---------------------------------------------------------------------------------

    def select(self, question: str, passages: list[Passage]) -> list[_Sentence]:
        query = tokens(question)
        sentences = [
            _Sentence(text, passage, pos, tokens(text))
            for passage in passages
            for pos, text in enumerate(split_sentences(passage.content))
        ]
        if not query or not sentences:
            return []
        scores = bm25(query, [s.terms for s in sentences])
        for sentence, (score, matched) in zip(sentences, scores):
            sentence.score, sentence.matched = score, matched
        needed = max(1, math.ceil(len(set(query)) * self.min_coverage))
        relevant = [s for s in sentences if s.matched >= needed]
        if self.semantic is True or (self.semantic == "auto" and not relevant):
            relevant = self._add_semantic(question, sentences, relevant)
        if not relevant:
            return []
        relevant.sort(key=lambda s: s.score, reverse=True)
        best = relevant[0].score
        # Keep the sentences that are nearly as good as the best one, not every weak partial match.
        kept = [s for s in relevant if s.score >= 0.4 * best][: self.max_sentences]
        return kept

    def _add_semantic(self, question: str, sentences: list[_Sentence], relevant: list[_Sentence]) -> list[_Sentence]:
        try:
            vectors = sentence_vectors([question] + [s.text for s in sentences])
        except EmbeddingError:
            return relevant  # lexical only: the answerer must work even with a broken embedder
        query, rest = vectors[0], vectors[1:]
        top_lexical = max((s.score for s in sentences), default=0.0) or 1.0
        chosen = {id(s) for s in relevant}
        for sentence, vector in zip(sentences, rest):
            cosine = sum(a * b for a, b in zip(query, vector))
            # Blend: lexical score scaled to [0, 1] plus cosine, so both kinds of evidence rank together.
            sentence.score = sentence.score / top_lexical + cosine
            if cosine >= self.min_cosine:
                chosen.add(id(sentence))
        return [s for s in sentences if id(s) in chosen]

    @staticmethod
    def compose(chosen: list[_Sentence]) -> str:
        lines = [HEADER, ""]
        for sentence in chosen:
            lines.append(f"- \"{sentence.text}\" [Source {sentence.passage.number}]")
        sources = sorted({(s.passage.number, s.passage.document_name) for s in chosen})
        lines += ["", "Sources: " + "; ".join(f"[Source {n}] {name}" for n, name in sources), "", FOOTER]
        return "\n".join(lines)

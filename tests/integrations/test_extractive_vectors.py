"""The offline answerer's semantic pass embeds each sentence once per process, with the same result."""
from __future__ import annotations

from knowrithm.integrations.embeddings.local import LocalEmbedder
from knowrithm.integrations.llm import extractive
from knowrithm.integrations.llm.base import ChatMessage, LLMConfig, Passage, get_adapter

PASSAGES = [Passage(1, "The Pro plan costs $49 per month. Enterprise pricing is available on request.", "pricing.md"),
            Passage(2, "Support is available around the clock by email.", "support.md")]
QUESTION = "What is the price of the professional subscription?"  # no shared words: the semantic pass decides


def test_sentence_vectors_are_reused_across_answers(monkeypatch):
    embedded: list[str] = []
    original = LocalEmbedder.embed_documents

    def spy(self, texts):
        embedded.extend(texts)
        return original(self, texts)

    monkeypatch.setattr(LocalEmbedder, "embed_documents", spy)
    monkeypatch.setattr(extractive, "_VECTORS", extractive.OrderedDict())
    adapter = get_adapter("extractive", LLMConfig(model=""))
    ask = [ChatMessage("user", QUESTION)]

    first = adapter.complete(ask, passages=PASSAGES)
    assert first.answered and "$49" in first.text
    assert QUESTION in embedded and "The Pro plan costs $49 per month." in embedded
    embedded.clear()
    second = adapter.complete(ask, passages=PASSAGES)
    assert second.text == first.text and embedded == []  # nothing embedded again
    extra = Passage(3, "Refunds are processed within five business days.", "refunds.md")
    adapter.complete(ask, passages=[*PASSAGES, extra])
    assert embedded == ["Refunds are processed within five business days."]  # only the new sentence


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(extractive, "_VECTORS", extractive.OrderedDict())
    monkeypatch.setattr(extractive, "_VECTORS_MAX", 2)
    vectors = extractive.sentence_vectors(["one sentence here", "two sentences here", "three sentences here"])
    assert len(vectors) == 3 and len(vectors[0]) == 384
    assert list(extractive._VECTORS) == ["two sentences here", "three sentences here"]

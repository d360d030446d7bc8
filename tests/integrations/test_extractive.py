"""The offline answerer: grounded quotes with [Source N] citations, or a plain "I don't know"."""
from __future__ import annotations

import re

from knowrithm.integrations.llm.base import ChatMessage, LLMConfig, Passage, get_adapter
from knowrithm.integrations.llm.extractive import FOOTER, HEADER, split_sentences

PASSAGES = [
    Passage(1, "Acme offers a 30-day refund policy. Refunds are processed within 5 business days. "
               "Our office is in Berlin.", "policy.pdf"),
    Passage(2, "The Pro plan costs $49 per month. Enterprise pricing is available on request.\n\n"
               "Support is available 24/7 by email.", "pricing.md", url="https://example.test/pricing"),
]


def ask(question: str, passages=PASSAGES, **extra):
    adapter = get_adapter("extractive", LLMConfig(model="", extra=extra))
    return adapter.complete([ChatMessage("system", "You are Acme's assistant."), ChatMessage("user", question)],
                            passages=passages)


def quoted(text: str) -> list[tuple[str, int]]:
    return [(q, int(n)) for q, n in re.findall(r'"(.+?)" \[Source (\d+)\]', text)]


def test_answers_by_quoting_the_relevant_sentence_with_its_source():
    completion = ask("How much does the Pro plan cost?")
    assert completion.answered
    assert completion.text.startswith(HEADER) and completion.text.rstrip().endswith(FOOTER)
    quotes = quoted(completion.text)
    assert quotes[0] == ("The Pro plan costs $49 per month.", 2)
    for sentence, number in quotes:  # every quote is verbatim from the passage it cites
        assert sentence in PASSAGES[number - 1].content
    assert "[Source 2] pricing.md" in completion.text


def test_picks_the_passage_that_matches_even_when_it_is_not_first():
    completion = ask("How long do refunds take?")
    assert completion.answered
    assert quoted(completion.text)[0] == ("Refunds are processed within 5 business days.", 1)


def test_says_it_does_not_know_when_nothing_is_relevant():
    completion = ask("What is the capital of Peru?")
    assert not completion.answered
    assert "don't know" in completion.text and "[Source" not in completion.text
    assert completion.finish_reason == "no_answer"


def test_says_it_does_not_know_without_passages():
    assert not ask("How much does the Pro plan cost?", passages=[]).answered
    assert not ask("", passages=PASSAGES).answered


def test_embeddings_find_paraphrases_the_words_miss():
    question = "What is the price of the professional subscription?"
    assert not ask(question, semantic=False).answered
    completion = ask(question)  # default: embeddings get a second look when no words match
    assert completion.answered
    assert quoted(completion.text)[0] == ("The Pro plan costs $49 per month.", 2)
    money_back = ask("Can I get my money back?")
    assert money_back.answered and quoted(money_back.text)[0][1] == 1


def test_blended_scoring_still_refuses_unrelated_questions():
    for question in ("What is the capital of Peru?", "How do I reset my password?"):
        assert not ask(question, semantic=True).answered


def test_token_usage_is_approximated_from_the_text():
    short = ask("How much does the Pro plan cost?", passages=PASSAGES[1:])
    long = ask("How much does the Pro plan cost?")
    assert short.completion_tokens > 0 and short.prompt_tokens > 0
    assert long.prompt_tokens > short.prompt_tokens
    assert short.total_tokens == short.prompt_tokens + short.completion_tokens


def test_streaming_yields_the_same_answer_line_by_line():
    adapter = get_adapter("extractive", LLMConfig(model="extractive-v1"))
    messages = [ChatMessage("user", "Is support available by email?")]
    deltas = list(adapter.stream(messages, passages=PASSAGES))
    assert len(deltas) > 1
    assert "".join(deltas) == adapter.complete(messages, passages=PASSAGES).text
    assert adapter.last_completion.answered and adapter.last_completion.model == "extractive-v1"


def test_sentence_splitting_keeps_abbreviation_free_sentences_and_list_items():
    text = "First point is here. Second one follows!\n- a bullet item with words\n\nA new paragraph starts."
    assert split_sentences(text) == ["First point is here.", "Second one follows!", "- a bullet item with words",
                                     "A new paragraph starts."]

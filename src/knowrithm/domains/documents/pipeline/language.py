"""Language of a text (ISO 639-1), via py3langid: a naive Bayes classifier over byte n-grams,
deterministic, ~1 ms for a 5,000-character sample (langdetect took ~5 ms, a noticeable share
of ingesting short documents). Its model loads on first use, once per process."""
from __future__ import annotations

SAMPLE_CHARS = 5000


def detect_language(text: str) -> str | None:
    sample = (text or "")[:SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in sample) < 20:
        return None
    import py3langid

    return py3langid.classify(sample)[0][:16]

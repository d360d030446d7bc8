"""Language of a text (ISO 639-1), via langdetect, seeded so results are reproducible."""
from __future__ import annotations

SAMPLE_CHARS = 5000


def detect_language(text: str) -> str | None:
    sample = (text or "")[:SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in sample) < 20:
        return None
    try:
        from langdetect import DetectorFactory, detect
        from langdetect.lang_detect_exception import LangDetectException

        DetectorFactory.seed = 0
        return detect(sample)[:16]
    except LangDetectException:
        return None

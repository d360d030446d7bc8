"""Optical character recognition behind a small interface; Tesseract is the default engine.

Each engine is one subclass plus `register()`; `get_ocr` builds the one asked for by name.
"""
from __future__ import annotations

import shutil
from functools import lru_cache


_ENGINES: dict[str, type["OcrEngine"]] = {}


class OcrError(Exception):
    pass


class OcrEngine:
    name = ""

    def image_to_text(self, image) -> str:
        """`image` is a PIL image; returns the recognised text (may be empty)."""
        raise NotImplementedError

    def available(self) -> bool:
        return True


def register(cls: type[OcrEngine]) -> type[OcrEngine]:
    _ENGINES[cls.name] = cls
    return cls


@register
class TesseractOcr(OcrEngine):
    name = "tesseract"

    def __init__(self, languages: str = "eng"):
        self.languages = languages

    def available(self) -> bool:
        return shutil.which("tesseract") is not None

    def image_to_text(self, image) -> str:
        import pytesseract

        if not self.available():
            raise OcrError("OCR is not available: the tesseract binary is not installed")
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        try:
            return pytesseract.image_to_string(image, lang=self.languages, timeout=120)
        except RuntimeError as exc:  # pytesseract raises RuntimeError on its timeout
            raise OcrError(f"OCR timed out: {exc}") from exc
        except pytesseract.TesseractError as exc:
            raise OcrError(f"OCR failed: {exc}") from exc


@lru_cache(maxsize=8)
def get_ocr(name: str = "tesseract", languages: str = "eng") -> OcrEngine:
    try:
        return _ENGINES[name](languages)
    except KeyError:
        raise OcrError(f"Unknown OCR engine {name!r}") from None

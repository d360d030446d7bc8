from .base import OcrEngine, OcrError, get_ocr

__all__ = ["OcrEngine", "OcrError", "get_ocr"]

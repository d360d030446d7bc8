"""Optical character recognition: one small subclass per engine plus `register()`."""
from .base import OcrEngine, OcrError, get_ocr, register

__all__ = ["OcrEngine", "OcrError", "get_ocr", "register"]

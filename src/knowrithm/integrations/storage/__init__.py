"""File storage for uploads: one small subclass per backend plus `register()`."""
from .base import FileTooLarge, Storage, StoredObject, StorageError, get_storage, register

__all__ = ["Storage", "StoredObject", "StorageError", "FileTooLarge", "get_storage", "register"]

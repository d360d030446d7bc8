from .base import Storage, StoredObject, StorageError, FileTooLarge, get_storage

__all__ = ["Storage", "StoredObject", "StorageError", "FileTooLarge", "get_storage"]

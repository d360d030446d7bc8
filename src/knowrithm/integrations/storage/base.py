"""Where uploaded files live: a small interface with a local-folder and an S3 backend.

Each backend is one subclass plus `register()`; `get_storage` picks the one named by
`STORAGE_BACKEND` and builds it with the class's `from_settings`.

`save()` streams from a file object in fixed-size pieces, hashing and counting as it
goes, so a file over the limit is refused after reading at most the limit (plus one
piece) and never held in memory whole.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

PIECE = 256 * 1024
_BACKENDS: dict[str, type["Storage"]] = {}


class StorageError(Exception):
    pass


class FileTooLarge(StorageError):
    def __init__(self, limit: int):
        super().__init__(f"File exceeds the maximum size of {limit} bytes")
        self.limit = limit


@dataclass
class StoredObject:
    key: str
    size: int
    sha256: str


_SAFE_KEY = re.compile(r"^[A-Za-z0-9._\-/]+$")


def check_key(key: str) -> str:
    if not key or not _SAFE_KEY.match(key) or ".." in key.split("/") or key.startswith("/"):
        raise StorageError(f"Invalid storage key {key!r}")
    return key


def copy_limited(src: BinaryIO, dst: BinaryIO, max_bytes: int | None) -> tuple[int, str]:
    """Copy src to dst; returns (size, sha256). Raises FileTooLarge past `max_bytes`."""
    digest = hashlib.sha256()
    size = 0
    while True:
        piece = src.read(PIECE)
        if not piece:
            break
        size += len(piece)
        if max_bytes is not None and size > max_bytes:
            raise FileTooLarge(max_bytes)
        digest.update(piece)
        dst.write(piece)
    return size, digest.hexdigest()


class Storage:
    name = ""

    def save(self, key: str, stream: BinaryIO, *, max_bytes: int | None = None) -> StoredObject:
        raise NotImplementedError

    def read(self, key: str) -> bytes:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def delete_prefix(self, prefix: str) -> int:
        """Removes every object under `prefix` (a folder such as `<company_id>/`); returns how many."""
        raise NotImplementedError

    def test_connection(self) -> bool:
        return True

    @classmethod
    def from_settings(cls, settings) -> "Storage":
        raise NotImplementedError


def register(cls: type[Storage]) -> type[Storage]:
    _BACKENDS[cls.name] = cls
    return cls


@register
class LocalStorage(Storage):
    name = "local"

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()

    @classmethod
    def from_settings(cls, settings) -> "LocalStorage":
        return cls(settings.UPLOAD_FOLDER)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def save(self, key: str, stream: BinaryIO, *, max_bytes: int | None = None) -> StoredObject:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary name first: a refused or interrupted upload leaves nothing behind.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                size, sha = copy_limited(stream, out, max_bytes)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return StoredObject(key, size, sha)

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"Stored file {key} is missing") from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete_prefix(self, prefix: str) -> int:
        import shutil

        folder = self._path(prefix.rstrip("/"))
        if not folder.is_dir():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        return count

    def test_connection(self) -> bool:
        self.root.mkdir(parents=True, exist_ok=True)
        return os.access(self.root, os.W_OK)


@register
class S3Storage(Storage):
    """Any S3-compatible service (AWS, MinIO, moto) through boto3."""

    name = "s3"

    def __init__(self, *, bucket: str, endpoint_url: str | None = None, region: str = "us-east-1",
                 access_key_id: str | None = None, secret_access_key: str | None = None, prefix: str = ""):
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region,
                                   aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key)

    @classmethod
    def from_settings(cls, settings) -> "S3Storage":
        if not settings.S3_BUCKET:
            raise StorageError("STORAGE_BACKEND=s3 needs S3_BUCKET")
        return cls(bucket=settings.S3_BUCKET, endpoint_url=settings.S3_ENDPOINT_URL, region=settings.S3_REGION,
                   access_key_id=settings.S3_ACCESS_KEY_ID, secret_access_key=settings.S3_SECRET_ACCESS_KEY,
                   prefix=settings.S3_PREFIX)

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def save(self, key: str, stream: BinaryIO, *, max_bytes: int | None = None) -> StoredObject:
        # Spool through a temporary file (disk past 8 MiB) so the size limit and the hash
        # are settled before anything reaches the bucket.
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            size, sha = copy_limited(stream, spool, max_bytes)
            spool.seek(0)
            self.client.upload_fileobj(spool, self.bucket, self._key(key))
        return StoredObject(key, size, sha)

    def read(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise StorageError(f"Stored file {key} is missing") from None

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError:
            return False

    def delete_prefix(self, prefix: str) -> int:
        count = 0
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix))
        for page in pages:
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                count += len(keys)
        return count

    def test_connection(self) -> bool:
        self.client.head_bucket(Bucket=self.bucket)
        return True


def get_storage(settings) -> Storage:
    backend = (settings.STORAGE_BACKEND or "local").lower()
    if backend not in _BACKENDS:
        raise StorageError(f"Unknown STORAGE_BACKEND {settings.STORAGE_BACKEND!r}")
    return _BACKENDS[backend].from_settings(settings)

"""Company logos uploaded with multipart `POST /company` / `PUT /company/<id>`.

The file is stored during the request (a task cannot read the upload) under
`logos/<uuid>.<ext>` in the configured storage (`UPLOAD_FOLDER/logos/` locally); the
company row keeps that key. Only raster images whose bytes match their extension are
kept: SVG is refused because a served SVG can carry script.
"""
from __future__ import annotations

import uuid

from flask import current_app
from werkzeug.datastructures import FileStorage

from knowrithm.infra.errors import ValidationFailed
from knowrithm.integrations.storage import FileTooLarge, get_storage

MAX_LOGO_BYTES = 5 * 1024 * 1024
_MAGIC = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
    "webp": (b"RIFF",),
}
_ALIASES = {"jpeg": "jpg"}


def _kind(file: FileStorage) -> str:
    name = (file.filename or "").lower()
    ext = _ALIASES.get(name.rsplit(".", 1)[-1], name.rsplit(".", 1)[-1]) if "." in name else ""
    head = file.stream.read(16)
    file.stream.seek(0)
    if ext not in _MAGIC or not any(head.startswith(m) for m in _MAGIC[ext]) or (ext == "webp" and head[8:12] != b"WEBP"):
        raise ValidationFailed("Unsupported logo file", code="INVALID_LOGO",
                               details={"logo": ["must be a PNG, JPEG, GIF or WebP image"]})
    return ext


def save_logo(file: FileStorage) -> str:
    """Stores the uploaded logo and returns its storage key (400 for a bad or oversized file)."""
    settings = current_app.config["SETTINGS"]
    ext = _kind(file)
    key = f"logos/{uuid.uuid4().hex}.{ext}"
    try:
        get_storage(settings).save(key, file.stream, max_bytes=min(MAX_LOGO_BYTES, settings.MAX_FILE_SIZE))
    except FileTooLarge as exc:
        raise ValidationFailed("Logo file too large", code="INVALID_LOGO", details={"logo": [str(exc)]}) from None
    return key


def delete_logo(key: str | None) -> None:
    """Removes a logo this server stored (never a URL someone gave in JSON)."""
    if key and key.startswith("logos/"):
        try:
            get_storage(current_app.config["SETTINGS"]).delete(key)
        except Exception:  # noqa: BLE001 - a leftover file is harmless; the change must not fail for it
            current_app.logger.warning("could not delete logo %s", key)

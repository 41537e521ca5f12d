"""Uploads: check a .docx, store it under a generated name and create its pending version.

Nothing is written when an upload is refused, and a failed write leaves neither a partial file
nor a row; the caller starts ingestion (toolkit.tasks.enqueue_ingestion) after commit.
"""

import contextlib
import errno
import hashlib
import logging
import re
import unicodedata
from pathlib import Path
from typing import BinaryIO

from django.core.files import File

from toolkit.docx_parser import ParsedDocument, parse_docx
from toolkit.docx_validation import DocxRejected, validate_docx
from toolkit.models import Toolkit, ToolkitVersion

logger = logging.getLogger(__name__)


def check_upload(stream: BinaryIO, filename: str) -> ParsedDocument:
    """Validate and parse an upload without storing anything; raises DocxRejected."""
    if filename.lower().endswith(".docm"):
        raise DocxRejected("This is a macro-enabled document (.docm). Save it as a Word Document (.docx).")
    validate_docx(stream)
    stream.seek(0)
    return parse_docx(stream, fallback_title=Path(filename).stem)


def create_version(
    *,
    toolkit: Toolkit,
    version_tag: str,
    stream: BinaryIO,
    filename: str,
    title: str = "",
    uploaded_by=None,
    activate: bool = False,
    parsed: ParsedDocument | None = None,
) -> ToolkitVersion:
    """Store a checked upload as a pending version; the caller starts ingestion after commit."""
    if parsed is None:
        parsed = check_upload(stream, filename)
    stream.seek(0)
    digest = hashlib.sha256()
    size = 0
    for piece in iter(lambda: stream.read(1024 * 1024), b""):
        digest.update(piece)
        size += len(piece)
    stream.seek(0)
    version = ToolkitVersion(
        toolkit=toolkit,
        version_tag=version_tag,
        title=title or parsed.title,
        original_filename=display_filename(filename),
        file_size=size,
        sha256=digest.hexdigest(),
        uploaded_by=uploaded_by,
        activate_when_ready=activate,
    )
    store_upload(version, stream)
    try:
        version.save()
    except Exception:
        version.source_file.delete(save=False)  # no orphan file when the row cannot be written
        raise
    return version


class StorageFailed(RuntimeError):
    """The upload could not be written to MEDIA_ROOT; the message is fit for the admin."""


_STORAGE_PROBLEMS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file is larger than the system allows",
    errno.EACCES: "the upload folder is not writable",
    errno.EPERM: "the upload folder is not writable",
    errno.EROFS: "the upload folder is on a read-only file system",
    errno.ENOTDIR: "the upload folder's path is not a folder",
}


def store_upload(version: ToolkitVersion, stream: BinaryIO) -> None:
    """Write the upload under a generated name; on failure remove what was written and raise
    StorageFailed, so a full or read-only disk leaves neither a partial file nor a row."""
    field = version.source_file.field
    name = field.generate_filename(version, "upload.docx")
    try:
        version.source_file.name = field.storage.save(name, File(stream), max_length=field.max_length)
    except OSError as error:
        with contextlib.suppress(OSError):
            field.storage.delete(name)
        problem = _STORAGE_PROBLEMS.get(error.errno, error.strerror or type(error).__name__)
        logger.error("storing upload %s failed: %s", name, error)
        raise StorageFailed(
            f"The file could not be stored: {problem} (MEDIA_ROOT). Nothing was saved; "
            "ask the operator to check the server's storage, then upload again."
        ) from None


def display_filename(filename: str) -> str:
    """The uploader's file name, for display only (the file is stored under a generated name):
    no folders (either slash), no control or bidirectional-override characters, at most 255."""
    name = re.split(r"[/\\]", filename)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf"))
    return name.strip()[:255] or "upload.docx"

"""Is this upload a real, safe .docx? Checked before any parser reads a byte of it.

python-docx reads whole zip members into memory and has no guard against zip bombs, so the
declared sizes, member count and compression ratio of every member are checked first, from
the zip's central directory alone. Every refusal is a `DocxRejected` with a sentence a person
can act on.
"""

import posixpath
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from xml.etree import ElementTree

from django.conf import settings
from lxml import etree

OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
DOCM_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"
TEMPLATE_MAINS = (
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml",
)
OFFICE_DOCUMENT_REL = "/officeDocument"  # transitional and strict relationship types both end so

# What a damaged package raises, from the zip layer (bad CRC, corrupt deflate streams, zip
# features Python lacks, undecodable names) to the XML layer (syntax, unknown encodings).
DAMAGED = (
    zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, OSError, ValueError, LookupError,
    ElementTree.ParseError, etree.LxmlError,
)  # fmt: skip

# Limits on what the zip may declare. Real toolkits are far below them.
MAX_MEMBERS = 5000
MAX_MEMBER_BYTES = 256 * 1024 * 1024
MAX_TOTAL_BYTES = 512 * 1024 * 1024
MAX_RATIO = 200  # text XML compresses 5-20x; bombs compress 1000x and more
RATIO_CHECK_ABOVE = 1024 * 1024  # tiny members may compress well without harm


class DocxRejected(ValueError):
    """The file is not one we will parse; the message says why, for the person who uploaded it."""


@dataclass(frozen=True)
class DocxSummary:
    members: int
    uncompressed_bytes: int
    main_part: str


def max_upload_bytes() -> int:
    return settings.TOOLKIT_MAX_UPLOAD_MB * 1024 * 1024


def check_size(size: int) -> None:
    if size == 0:
        raise DocxRejected("The file is empty (0 bytes).")
    if size > max_upload_bytes():
        raise DocxRejected(
            f"The file is {size / 1024 / 1024:.1f} MB; the limit is {settings.TOOLKIT_MAX_UPLOAD_MB} MB."
        )


def _main_part_name(archive: zipfile.ZipFile) -> str:
    try:
        rels = ElementTree.fromstring(archive.read("_rels/.rels"))  # noqa: S314 - size checked above
    except KeyError:
        raise DocxRejected("This is a zip file but not a Word document (it has no _rels/.rels).") from None
    except ElementTree.ParseError:
        raise DocxRejected("The document's package index (_rels/.rels) is damaged.") from None
    for rel in rels:
        if rel.get("Type", "").endswith(OFFICE_DOCUMENT_REL) and rel.get("TargetMode") != "External":
            return posixpath.normpath(rel.get("Target", "").lstrip("/"))
    raise DocxRejected("This zip file has no main document part, so it is not a Word document.")


def _content_type(archive: zipfile.ZipFile, part_name: str) -> str:
    try:
        types = ElementTree.fromstring(archive.read("[Content_Types].xml"))  # noqa: S314
    except (KeyError, ElementTree.ParseError):
        raise DocxRejected(
            "The document's content types ([Content_Types].xml) are missing or damaged."
        ) from None
    extension = part_name.rsplit(".", 1)[-1].lower()
    default = ""
    for entry in types:
        if entry.tag.endswith("Override") and entry.get("PartName", "").lstrip("/") == part_name:
            return entry.get("ContentType", "")
        if entry.tag.endswith("Default") and entry.get("Extension", "").lower() == extension:
            default = entry.get("ContentType", "")
    return default


def validate_docx(source: Path | BinaryIO, size: int | None = None) -> DocxSummary:
    """Raise DocxRejected unless `source` is a .docx that is safe to hand to python-docx."""
    if size is None:
        size = source.stat().st_size if isinstance(source, Path) else _stream_size(source)
    check_size(size)
    head = _read_head(source)
    if head.startswith(OLE2_SIGNATURE):
        raise DocxRejected(
            "This file is password-protected (encrypted) or an old Word 97-2003 .doc file. "
            "Remove the password or save it as a Word Document (.docx) and upload that."
        )
    if not head.startswith(ZIP_SIGNATURES):
        raise DocxRejected("This is not a Word .docx file (its content is not a .docx package).")
    try:
        return _check_archive(source)
    except DocxRejected:
        raise
    except DAMAGED:
        raise DocxRejected(
            "The file is damaged or incomplete (it is not a readable .docx archive)."
        ) from None


def _check_archive(source: Path | BinaryIO) -> DocxSummary:
    with zipfile.ZipFile(source) as archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise DocxRejected(
                f"The file has {len(members)} parts; more than {MAX_MEMBERS} is not a real document."
            )
        total = 0
        for member in members:
            if member.flag_bits & 0x1:
                raise DocxRejected("The file contains encrypted parts and cannot be read.")
            if member.file_size > MAX_MEMBER_BYTES:
                raise DocxRejected(f"A part of the file ({member.filename}) would unpack to an unsafe size.")
            if member.file_size > RATIO_CHECK_ABOVE and member.file_size > MAX_RATIO * max(
                member.compress_size, 1
            ):
                raise DocxRejected(
                    f"A part of the file ({member.filename}) is compressed suspiciously well "
                    "(a zip bomb?); it was not opened."
                )
            total += member.file_size
        if total > MAX_TOTAL_BYTES:
            raise DocxRejected("The file would unpack to an unsafe size.")
        names = {member.filename for member in members}
        main_part = _main_part_name(archive)
        if main_part not in names:
            raise DocxRejected(f"The document's main part ({main_part}) is missing: the file is damaged.")
        content_type = _content_type(archive, main_part)
        if content_type == DOCM_MAIN:
            raise DocxRejected(
                "This is a macro-enabled document (.docm). Save it as a Word Document (.docx) without macros."
            )
        if content_type in TEMPLATE_MAINS:
            raise DocxRejected("This is a Word template (.dotx/.dotm). Save it as a Word Document (.docx).")
        if content_type != DOCX_MAIN:
            raise DocxRejected(f"This is not a Word document (its main part is {content_type or 'unknown'}).")
        try:
            # Read the main part through once, in bounded pieces: zipfile checks its CRC at the end.
            with archive.open(main_part) as part:
                while part.read(1024 * 1024):
                    pass
        except DAMAGED:
            raise DocxRejected("The file is damaged or incomplete (its main part cannot be read).") from None
    return DocxSummary(members=len(members), uncompressed_bytes=total, main_part=main_part)


def _read_head(source: Path | BinaryIO) -> bytes:
    if isinstance(source, Path):
        with source.open("rb") as handle:
            return handle.read(8)
    position = source.tell()
    head = source.read(8)
    source.seek(position)
    return head


def _stream_size(stream: BinaryIO) -> int:
    position = stream.tell()
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(position)
    return size

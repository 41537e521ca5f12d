import io
import zipfile

import pytest

from toolkit.docx_validation import DocxRejected, validate_docx
from toolkitrag.testing.docx_factory import make_docx, rewrite_member, shared_docx

GOOD = make_docx([("h1", "Intro"), ("p", "Hello.")])


def check(data: bytes):
    return validate_docx(io.BytesIO(data))


def test_a_real_docx_passes():
    assert check(GOOD).main_part == "word/document.xml"


def test_empty_file_is_rejected():
    with pytest.raises(DocxRejected, match="empty"):
        check(b"")


def test_renamed_text_file_is_rejected():
    with pytest.raises(DocxRejected, match="not a Word .docx file"):
        check(b"Just some notes I renamed to .docx\n" * 10)


def test_truncated_docx_is_rejected():
    with pytest.raises(DocxRejected, match="damaged or incomplete"):
        check(GOOD[: len(GOOD) // 2])


def test_zip_that_is_not_a_word_document_is_rejected():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(DocxRejected, match="not a Word document"):
        check(buffer.getvalue())


def test_macro_enabled_document_is_rejected():
    docm = rewrite_member(
        GOOD,
        "[Content_Types].xml",
        lambda xml: xml.replace(
            b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
            b"application/vnd.ms-word.document.macroEnabled.main+xml",
        ),
    )
    with pytest.raises(DocxRejected, match=r"macro-enabled document \(.docm\)"):
        check(docm)


def test_encrypted_document_is_rejected():
    with pytest.raises(DocxRejected, match="password-protected"):
        validate_docx(shared_docx("poi_bug53475-password-is-pass.docx"))


def test_ole_container_is_rejected_even_without_the_shared_corpus():
    with pytest.raises(DocxRejected, match="password-protected"):
        check(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)


def test_oversize_file_is_rejected_before_reading(settings):
    settings.TOOLKIT_MAX_UPLOAD_MB = 1
    with pytest.raises(DocxRejected, match="the limit is 1 MB"):
        validate_docx(io.BytesIO(GOOD), size=2 * 1024 * 1024)


def zip_bomb(member_mb: int = 64) -> bytes:
    """A .docx-shaped zip whose document.xml inflates 1000x: built by streaming, never in memory."""
    buffer = io.BytesIO()
    source = zipfile.ZipFile(io.BytesIO(GOOD))
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            if info.filename != "word/document.xml":
                archive.writestr(info.filename, source.read(info.filename))
        with archive.open("word/document.xml", "w") as member:
            zeros = b"\0" * (1024 * 1024)
            for _ in range(member_mb):
                member.write(zeros)
    return buffer.getvalue()


def test_zip_bomb_is_rejected_from_its_declared_sizes():
    bomb = zip_bomb()
    assert len(bomb) < 1024 * 1024  # 64 MB of content in well under 1 MB
    with pytest.raises(DocxRejected, match="zip bomb"):
        check(bomb)


def test_too_many_members_are_rejected():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(5001):
            archive.writestr(f"x/{i}", "")
    with pytest.raises(DocxRejected, match="parts"):
        check(buffer.getvalue())


def test_strict_open_xml_gets_a_clear_message():
    from toolkit.docx_parser import parse_docx

    path = shared_docx("docx2python_strict.docx")
    validate_docx(path)
    with pytest.raises(DocxRejected, match="Strict Open XML"):
        parse_docx(path)

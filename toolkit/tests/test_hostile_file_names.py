"""Upload file names with path traversal, control characters and bidirectional overrides never
reach the filesystem (files are stored under generated names) and are shown cleaned; download
names are plain ASCII in a well-formed Content-Disposition."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from strategies.models import StrategyPlan
from toolkit import uploads
from toolkit.models import Toolkit, ToolkitVersion
from toolkit.tests.test_admin_upload import ADD_URL
from toolkitrag.testing.docx_factory import make_docx, toolkit_spec

pytestmark = pytest.mark.django_db

HOSTILE = [
    ("../../../../etc/passwd.docx", "passwd.docx"),
    ("..\\..\\windows\\system32\\kit.docx", "kit.docx"),
    ("kit\x00.docx\r\nX-Injected: 1", "kit.docxX-Injected: 1"),
    ("invoice\u202excod.docx", "invoicexcod.docx"),  # right-to-left override: shows as "...docx.doc"
    ("/", "upload.docx"),
]


@pytest.mark.parametrize(("filename", "shown"), HOSTILE)
def test_hostile_upload_names_are_stored_under_generated_names_and_shown_cleaned(media_root, filename, shown):
    document = uploads.create_version(
        toolkit=Toolkit.objects.get_or_create(name="Kit")[0],
        version_tag="v1",
        stream=io.BytesIO(make_docx(toolkit_spec())),
        filename=filename,
    )
    assert document.original_filename == shown
    stored = [p for p in media_root.rglob("*") if p.is_file()]
    assert stored == [media_root / document.source_file.name]
    assert document.source_file.name.startswith("toolkits/") and stored[0].resolve().is_relative_to(
        media_root
    )


def test_admin_upload_with_a_traversal_name_stays_in_media_root(client, toolkit_admin, media_root, tmp_path):
    client.force_login(toolkit_admin)
    upload = SimpleUploadedFile("../../outside\x07.docx", make_docx(toolkit_spec()))
    response = client.post(ADD_URL, {"new_toolkit_name": "Kit", "version_tag": "v1", "source_file": upload})
    assert response.status_code == 302
    document = ToolkitVersion.objects.get()
    assert document.original_filename == "outside.docx"
    assert [p for p in tmp_path.rglob("*.docx")] == [media_root / document.source_file.name]


def test_download_names_are_ascii_and_cannot_break_the_header(client, owner):
    plan = StrategyPlan.objects.create(owner=owner, title='Évaluation "finale"\r\nSet-Cookie: a=b; ../../x')
    client.force_login(owner)
    for extension in ("docx", "md"):
        header = client.get(f"/strategies/{plan.pk}/export.{extension}")["Content-Disposition"]
        assert header.startswith('attachment; filename="evaluation-finale-set-cookie-ab-x-')
        assert header.isascii() and "\r" not in header and "\n" not in header
        assert header.count('"') == 2 and "/" not in header

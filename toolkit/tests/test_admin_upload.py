import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from toolkit.models import Toolkit, ToolkitVersion
from toolkitrag.testing.docx_factory import make_docx, toolkit_spec

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/toolkit/toolkitversion/add/"


def docx_upload(name="toolkit.docx", data=None):
    return SimpleUploadedFile(name, data if data is not None else make_docx(toolkit_spec()))


def test_staff_uploads_a_new_toolkit_version_through_the_admin(
    client, toolkit_admin, django_capture_on_commit_callbacks, media_root
):
    client.force_login(toolkit_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            ADD_URL,
            {
                "new_toolkit_name": "Community Toolkit",
                "version_tag": "2024.1",
                "title": "",
                "source_file": docx_upload(),
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    document = ToolkitVersion.objects.get()
    assert response["Location"] == "/admin/toolkit/toolkitversion/"  # the list, where progress shows
    assert document.toolkit.name == "Community Toolkit"
    assert document.uploaded_by == toolkit_admin
    assert document.status == ToolkitVersion.Status.READY and document.is_active
    assert document.chunks.count() == 4
    assert document.original_filename == "toolkit.docx"
    assert list(media_root.rglob("*.docx")) == [media_root / document.source_file.name]

    page = client.get(reverse("admin:toolkit_toolkitversion_change", args=[document.pk])).content.decode()
    assert "2 Planning &gt; 2.3 Budget" in page  # the chunk list with heading paths
    listing = client.get(reverse("admin:toolkit_toolkitversion_changelist")).content.decode()
    assert "4/4" in listing and "Ready" in listing


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"plain text, renamed", "not a Word .docx file"),
        (b"", "The submitted file is empty"),
        (make_docx([("p", "")]), "no text to index"),
    ],
)
def test_bad_files_get_a_clear_form_error_and_nothing_is_stored(
    client, toolkit_admin, media_root, data, message
):
    client.force_login(toolkit_admin)
    response = client.post(
        ADD_URL,
        {"new_toolkit_name": "Kit", "version_tag": "v1", "title": "", "source_file": docx_upload(data=data)},
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ToolkitVersion.objects.exists() and not Toolkit.objects.exists()
    assert not media_root.exists() or not any(media_root.rglob("*"))


def test_oversize_upload_is_refused(client, toolkit_admin, settings):
    settings.TOOLKIT_MAX_UPLOAD_MB = 1
    client.force_login(toolkit_admin)
    big = make_docx([("p", "word " * 20), *[("p", f"{i} " + "x" * 2000) for i in range(10)]])
    big = big + b"\0" * (1024 * 1024)  # padding after the zip: still a zip, now over 1 MB
    response = client.post(
        ADD_URL, {"new_toolkit_name": "Kit", "version_tag": "v1", "source_file": docx_upload(data=big)}
    )
    assert "the limit is 1 MB" in response.content.decode()
    assert not ToolkitVersion.objects.exists()


def test_duplicate_version_tag_is_refused(client, toolkit_admin, django_capture_on_commit_callbacks):
    client.force_login(toolkit_admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(ADD_URL, {"new_toolkit_name": "Kit", "version_tag": "v1", "source_file": docx_upload()})
    kit = Toolkit.objects.get()
    response = client.post(ADD_URL, {"toolkit": kit.pk, "version_tag": "V1", "source_file": docx_upload()})
    assert "Kit already has a version &#x27;V1&#x27;" in response.content.decode()
    assert ToolkitVersion.objects.count() == 1


def test_non_staff_cannot_reach_the_upload_page(client, owner):
    client.force_login(owner)
    response = client.post(
        ADD_URL, {"new_toolkit_name": "Kit", "version_tag": "v1", "source_file": docx_upload()}
    )
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not ToolkitVersion.objects.exists()


def test_staff_without_toolkit_permissions_are_refused(client, staff_user):
    client.force_login(staff_user)
    assert client.get(ADD_URL).status_code == 403


def test_upload_requires_a_csrf_token(toolkit_admin):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(toolkit_admin)
    response = client.post(
        ADD_URL, {"new_toolkit_name": "Kit", "version_tag": "v1", "source_file": docx_upload()}
    )
    assert response.status_code == 403


def test_progress_view_reports_status_for_the_list_page(
    client, toolkit_admin, django_capture_on_commit_callbacks
):
    client.force_login(toolkit_admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(ADD_URL, {"new_toolkit_name": "Kit", "version_tag": "v1", "source_file": docx_upload()})
    document = ToolkitVersion.objects.get()
    response = client.get(reverse("admin:toolkit_toolkitversion_progress"), {"ids": f"{document.pk},abc"})
    assert response.json() == {
        str(document.pk): {
            "status": "ready",
            "status_label": "Ready",  # the list's texts come from here: admin_progress.js copies none
            "progress_done": 4,
            "progress_total": 4,
            "error": "",
            "short_error": "",
        }
    }


def test_admin_actions_make_active_and_retry(client, toolkit_admin, django_capture_on_commit_callbacks):
    client.force_login(toolkit_admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(ADD_URL, {"new_toolkit_name": "Kit", "version_tag": "v1", "source_file": docx_upload()})
        kit = Toolkit.objects.get()
        client.post(ADD_URL, {"toolkit": kit.pk, "version_tag": "v2", "source_file": docx_upload()})
    v1, v2 = ToolkitVersion.objects.order_by("version_tag")
    assert v1.is_active and not v2.is_active
    changelist = reverse("admin:toolkit_toolkitversion_changelist")
    client.post(changelist, {"action": "make_active", "_selected_action": [v2.pk]})
    assert (
        ToolkitVersion.objects.get(pk=v2.pk).is_active and not ToolkitVersion.objects.get(pk=v1.pk).is_active
    )

    ToolkitVersion.objects.filter(pk=v1.pk).update(status=ToolkitVersion.Status.FAILED, error="boom")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(changelist, {"action": "retry_ingestion", "_selected_action": [v1.pk]})
    v1.refresh_from_db()
    assert v1.status == ToolkitVersion.Status.READY and v1.error == ""

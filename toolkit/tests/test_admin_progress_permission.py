"""The admin's progress endpoint (polled by the version list) shows each version's status and error
text: only to staff who may view versions, as the list itself; any other staff member gets a 403."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from toolkit.models import ToolkitVersion

pytestmark = pytest.mark.django_db


def progress_url(*ids: int) -> str:
    opts = ToolkitVersion._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return f"{changelist}progress/?ids={','.join(map(str, ids))}"


def test_staff_without_the_view_permission_gets_403(client, staff_user, toolkit_document):
    ToolkitVersion.objects.filter(pk=toolkit_document.pk).update(error="owner-secret-error-text")
    client.force_login(staff_user)
    response = client.get(progress_url(toolkit_document.pk))
    assert response.status_code == 403
    assert b"owner-secret-error-text" not in response.content and b"ready" not in response.content


def test_staff_with_the_view_permission_sees_the_progress(client, staff_user, toolkit_document):
    opts = ToolkitVersion._meta
    staff_user.user_permissions.add(
        Permission.objects.get(content_type__app_label=opts.app_label, codename=f"view_{opts.model_name}")
    )
    client.force_login(staff_user)
    response = client.get(progress_url(toolkit_document.pk))
    assert response.status_code == 200
    assert response.json()[str(toolkit_document.pk)]["status"] == "ready"


def test_anonymous_is_sent_to_the_admin_login(client, toolkit_document):
    response = client.get(progress_url(toolkit_document.pk))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]

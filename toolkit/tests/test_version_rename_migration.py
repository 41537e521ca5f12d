"""The rename Document -> ToolkitVersion (migration 0008) keeps the table and what staff may do."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import connection

from toolkit.models import ToolkitVersion

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_table_keeps_its_name():
    assert ToolkitVersion._meta.db_table == "toolkit_documents"
    assert "toolkit_documents" in connection.introspection.table_names()


def test_a_group_that_could_view_documents_can_view_toolkit_versions_after_migrate(staff_user, client):
    call_command("migrate", "toolkit", "0007", verbosity=0)
    editors = Group.objects.create(name="toolkit editors")
    editors.permissions.add(
        Permission.objects.get(content_type__app_label="toolkit", codename="view_document")
    )
    staff_user.groups.add(editors)

    call_command("migrate", verbosity=0)  # every app: going back unapplied those depending on toolkit

    codenames = set(editors.permissions.values_list("codename", flat=True))
    assert codenames == {"view_toolkitversion"}
    assert not Permission.objects.filter(content_type__app_label="toolkit", codename__endswith="_document")
    staff_user = type(staff_user).objects.get(pk=staff_user.pk)  # no cached permissions
    assert staff_user.has_perm("toolkit.view_toolkitversion")
    client.force_login(staff_user)
    assert client.get("/admin/toolkit/toolkitversion/").status_code == 200

import pytest


@pytest.fixture
def toolkit_admin(staff_user):
    """A staff user who may manage toolkits (as an administrator would be set up)."""
    from django.contrib.auth.models import Permission

    staff_user.user_permissions.set(Permission.objects.filter(content_type__app_label="toolkit"))
    return staff_user

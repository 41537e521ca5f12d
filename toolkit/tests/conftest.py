from pathlib import Path

import pytest

SHARED_DOCX = Path(__file__).resolve().parents[2] / ".." / "shared" / "eval" / "docx"
SHARED_DOCX = SHARED_DOCX.resolve()


def shared_docx(name: str) -> Path:
    path = SHARED_DOCX / name
    if not path.exists():
        pytest.skip(
            f"needs ../shared/eval/docx/{name} (the shared evaluation corpus is not beside this clone)"
        )
    return path


@pytest.fixture
def toolkit_admin(staff_user):
    """A staff user who may manage toolkits (as an administrator would be set up)."""
    from django.contrib.auth.models import Permission

    staff_user.user_permissions.set(Permission.objects.filter(content_type__app_label="toolkit"))
    return staff_user

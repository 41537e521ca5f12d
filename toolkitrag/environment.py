"""Reading settings from the environment strictly, and the checks production must pass.

settings.py uses these; they live here so tests can call them without reloading settings.
"""

import ipaddress

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# Values people paste from examples; none of them is a secret.
_PLACEHOLDER_MARKERS = ("change", "placeholder", "example", "your-", "secret-key", "insecure", "xxxx")

SHARED_CACHE_BACKENDS = (
    "django_redis.cache.RedisCache",
    "django.core.cache.backends.redis.RedisCache",
    "django.core.cache.backends.memcached.PyMemcacheCache",
    "django.core.cache.backends.memcached.PyLibMCCache",
)


class StrictEnv(environ.FileAwareEnv):
    """django-environ, but a malformed value is an error naming its variable, not a default.

    FileAwareEnv also reads `NAME_FILE` (a path) when set, for secrets kept out of the
    environment (systemd credentials, Docker/Kubernetes secrets).
    """

    @classmethod
    def parse_value(cls, value, cast):
        if cast is bool and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(f"{value!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")
        return super().parse_value(value, cast)

    def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except ImproperlyConfigured:
            raise
        except (ValueError, TypeError) as error:
            raise ImproperlyConfigured(f"{var}: {error}") from error


def database_from_url(url: str) -> dict:
    """Parse DATABASE_URL, accepting only PostgreSQL (the one dialect this app speaks)."""
    try:
        config = environ.Env.db_url_config(url)
    except (ValueError, KeyError) as error:
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {error}") from error
    if config.get("ENGINE") != "django.db.backends.postgresql" or not config.get("NAME"):
        raise ImproperlyConfigured("DATABASE_URL must look like postgresql://USER:PASSWORD@HOST:5432/NAME")
    return config


def cache_from_url(url: str) -> dict:
    try:
        config = environ.Env.cache_url_config(url)
    except (ValueError, KeyError) as error:
        raise ImproperlyConfigured(f"CACHE_URL is malformed: {error}") from error
    if not config.get("BACKEND"):
        raise ImproperlyConfigured("CACHE_URL must look like redis://HOST:6379/0")
    return config


def email_from_url(url: str) -> dict:
    """Parse EMAIL_URL (consolemail://, smtp://, smtp+tls://USER:PASSWORD@HOST:587, smtp+ssl://...)."""
    try:
        config = environ.Env.email_url_config(url)
    except (ValueError, KeyError, ImproperlyConfigured) as error:
        raise ImproperlyConfigured(f"EMAIL_URL is malformed: {error}") from error
    if not config.get("EMAIL_BACKEND"):
        raise ImproperlyConfigured("EMAIL_URL must look like smtp+tls://USER:PASSWORD@HOST:587")
    if config["EMAIL_BACKEND"].endswith("smtp.EmailBackend") and not config.get("EMAIL_HOST"):
        raise ImproperlyConfigured("EMAIL_URL names no mail server: smtp+tls://USER:PASSWORD@HOST:587")
    return config


def secret_key_problem(secret_key: str) -> str | None:
    if not secret_key:
        return (
            "SECRET_KEY is missing: generate one with "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(50))'`"
        )
    if len(secret_key) < 50:
        return f"SECRET_KEY is too short ({len(secret_key)} characters; at least 50 are needed)"
    lowered = secret_key.lower()
    if any(marker in lowered for marker in _PLACEHOLDER_MARKERS) or len(set(secret_key)) < 5:
        return "SECRET_KEY is a placeholder: generate a random one"
    return None


def production_problems(
    *,
    secret_key: str,
    debug: bool,
    allowed_hosts: list[str],
    database_url: str,
    cache_backend: str,
    email_url: str,
) -> list[str]:
    """Everything that stops ENV=prod from starting, one line each."""
    problems = []
    if problem := secret_key_problem(secret_key):
        problems.append(problem)
    if debug:
        problems.append("DEBUG is on: set DEBUG=false in production")
    if not [host for host in allowed_hosts if host.strip()]:
        problems.append("ALLOWED_HOSTS is empty: list the site's host names, comma-separated")
    if not database_url:
        problems.append("DATABASE_URL is missing: point it at the PostgreSQL server (with pgvector)")
    if cache_backend not in SHARED_CACHE_BACKENDS:
        problems.append(
            "CACHE_URL must name a shared cache (Redis) so rate limits hold across workers; "
            f"got {cache_backend}"
        )
    if not email_url:
        problems.append(
            "EMAIL_URL is missing: sign-up links, invitations and password resets are mailed; "
            "set e.g. EMAIL_URL=smtp+tls://USER:PASSWORD@mail.example.org:587 (DEPLOY.md)"
        )
    return problems


def public_bind_problem(bind: str) -> str | None:
    """Why gunicorn's GUNICORN_BIND lets clients past the proxy (None: loopback or a unix socket).

    With TRUSTED_PROXY_COUNT > 0 the app takes the client's address from a header the proxy sets
    (X-Real-IP); a client reaching gunicorn directly could set it to anything and dodge every
    per-address rate limit and login lockout.
    """
    if bind.startswith(("unix:", "fd://")):
        return None
    host = bind.rpartition("]")[0].lstrip("[") if bind.startswith("[") else bind.partition(":")[0]
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    return (
        f"GUNICORN_BIND={bind} lets clients reach gunicorn without the proxy, while TRUSTED_PROXY_COUNT "
        "makes the app believe the client address they send: bind to 127.0.0.1:8000 (the default) or "
        "a unix socket, or set TRUSTED_PROXY_COUNT=0"
    )

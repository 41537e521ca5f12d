"""The test OpenID Connect provider (toolkitrag/testing/oidc_provider/) in a child process.

A real django-oauth-toolkit provider, not a mock: its own database on the test session's
PostgreSQL, an RSA signing key made here, the confidential client of the app under test, and
people (with e-mail, email_verified and groups) from a JSON file the test writes.
"""

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from psycopg import errors, sql

from toolkitrag.embedded_db import server
from toolkitrag.testing import PASSWORD, REPO_ROOT
from toolkitrag.testing.servers import AppServer, child_database_url, free_port, start_gunicorn

PROVIDER_SETTINGS = "toolkitrag.testing.oidc_provider.settings"
PROVIDER_DATABASE = "test_oidc_provider"


def provider_database_url() -> str:
    """A database for the provider beside the test database, made if missing."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "toolkitrag.embedded_db":
        running = server.ensure_running(database["PGDATA"])
        server.ensure_database(running, PROVIDER_DATABASE)
        return running.database_url(PROVIDER_DATABASE)
    url = child_database_url()
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PROVIDER_DATABASE]).fetchone()
        if not exists:
            # Made by another test process just now: fine.
            with contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PROVIDER_DATABASE)))
    return url.rsplit("/", 1)[0] + "/" + PROVIDER_DATABASE


class OidcProvider:
    """start() it, register_client() the app, set_people(); the issuer is `issuer`."""

    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.people_file = work_dir / "provider-people.json"
        self.key_file = work_dir / "provider-key.pem"
        self.server: AppServer | None = None
        self._port: int | None = None

    @property
    def url(self) -> str:
        """The provider's address. Its port is picked at the first use, as late as the test allows:
        on a busy machine another process may take a free port before gunicorn binds it."""
        if self._port is None:
            self._port = free_port()
        return f"http://127.0.0.1:{self._port}"

    @property
    def issuer(self) -> str:
        return self.url + "/o"

    def env(self) -> dict[str, str]:
        env = {
            "DJANGO_SETTINGS_MODULE": PROVIDER_SETTINGS,
            "PROVIDER_DATABASE_URL": self.database_url,
            "PROVIDER_RSA_KEY_FILE": str(self.key_file),
            "PROVIDER_PEOPLE_FILE": str(self.people_file),
            # oauthlib refuses plain http unless told; the provider lives on loopback in a test.
            "OAUTHLIB_INSECURE_TRANSPORT": "1",
        }
        if self._port is not None:  # management commands need no issuer
            env["PROVIDER_ISSUER"] = self.issuer
        return env

    def start(self) -> "OidcProvider":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.set_people({})
        self.database_url = provider_database_url()
        self.manage("migrate", "--noinput")
        self.server = start_gunicorn(
            self.work_dir,
            {**self.env(), "PROVIDER_ISSUER": self.issuer},
            wsgi="toolkitrag.testing.oidc_provider.wsgi",
            port=self._port,
            wait_for="/o/.well-known/openid-configuration",
        )
        return self

    def manage(self, *args: str) -> None:
        result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "django", *args],
            cwd=REPO_ROOT,
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"provider manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")

    def register_client(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.manage("register_client", client_id, client_secret, redirect_uri)

    def set_people(self, people: dict[str, dict]) -> None:
        """username -> {"email", "email_verified", "groups"}; each one's password is PASSWORD."""
        self.people_file.write_text(
            json.dumps({username: {"password": PASSWORD, **person} for username, person in people.items()})
        )

    def log(self) -> str:
        return self.server.log() if self.server else ""

    def stop(self) -> None:
        if self.server:
            self.server.stop()

"""deploy/validate-production.sh's single sign-on checks: the client secret file and the
provider's discovery document. Only the sso group runs (every other group is skipped), against a
real HTTP server on loopback standing in for the provider; the rest of the script is tested
against the whole stack in test_validate_production.py, which has no SSO and so no sso lines."""

import getpass
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from toolkitrag.testing import REPO_ROOT

SCRIPT = REPO_ROOT / "deploy" / "validate-production.sh"
OTHER_GROUPS = "services,env,settings,database,redis,http,proxy,tls,headers,stream,rate-limit,static,folders,disk,logs,backups,firewall"  # noqa: E501


class Provider(BaseHTTPRequestHandler):
    issuer = ""

    def do_GET(self):  # noqa: N802 - http.server's name
        body = json.dumps({"issuer": Provider.issuer, "token_endpoint": Provider.issuer + "/token"}).encode()
        self.send_response(200 if self.path.endswith("/.well-known/openid-configuration") else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def provider_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def sso_checks(tmp_path, **env_file: str) -> dict[str, dict]:
    path = tmp_path / "toolkitrag.env"
    path.write_text("".join(f"{name}={value}\n" for name, value in env_file.items()))
    result = subprocess.run(
        ["bash", str(SCRIPT), "--json"],
        env={
            "PATH": "/usr/bin:/bin",
            "TOOLKITRAG_ENV_FILE": str(path),
            "SERVICE_USER": getpass.getuser(),
            "APP_URL": "http://127.0.0.1:9",
            "SKIP": OTHER_GROUPS,
            "SITE_URL": "https://toolkit.example.org",
        },  # fmt: skip
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(result.stdout)
    return {check["name"]: check for check in report["checks"] if check["group"] == "sso"}


def test_without_sso_there_are_no_sso_lines(tmp_path):
    assert sso_checks(tmp_path) == {}


def test_a_readable_private_secret_and_a_provider_that_answers_pass(tmp_path, provider_url):
    Provider.issuer = provider_url + "/realms/staff"
    secret = tmp_path / "oidc-secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o640)
    checks = sso_checks(tmp_path, OIDC_ISSUER=Provider.issuer, OIDC_CLIENT_SECRET_FILE=str(secret))
    assert {name: check["status"] for name, check in checks.items()} == {
        "sso-client-secret": "pass",
        "sso-discovery": "pass",
    }, checks


@pytest.mark.parametrize(
    "secret_state, says",
    [
        ("missing", "missing or unreadable"),
        ("empty", "is empty"),
        ("world-readable", "anyone on this machine can read the client secret"),
        ("unset", "OIDC_CLIENT_SECRET_FILE is not"),
    ],
)
def test_a_secret_file_that_cannot_serve_fails_with_what_to_do(tmp_path, provider_url, secret_state, says):
    Provider.issuer = provider_url
    secret = tmp_path / "oidc-secret"
    if secret_state != "missing":
        secret.write_text("" if secret_state == "empty" else "s3cret")
        secret.chmod(0o644 if secret_state == "world-readable" else 0o600)
    env = {"OIDC_ISSUER": Provider.issuer}
    if secret_state != "unset":
        env["OIDC_CLIENT_SECRET_FILE"] = str(secret)
    check = sso_checks(tmp_path, **env)["sso-client-secret"]
    assert check["status"] == "fail" and says in check["message"], check


def test_a_provider_that_is_away_or_names_another_issuer_fails(tmp_path, provider_url):
    secret = tmp_path / "oidc-secret"
    secret.write_text("s3cret")
    secret.chmod(0o600)
    Provider.issuer = "https://someone-else.example.org"
    check = sso_checks(tmp_path, OIDC_ISSUER=provider_url, OIDC_CLIENT_SECRET_FILE=str(secret))[
        "sso-discovery"
    ]
    assert check["status"] == "fail" and "does not name" in check["message"], check
    check = sso_checks(tmp_path, OIDC_ISSUER="http://127.0.0.1:9", OIDC_CLIENT_SECRET_FILE=str(secret))[
        "sso-discovery"
    ]
    assert check["status"] == "fail" and "did not answer" in check["message"], check

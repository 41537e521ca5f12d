"""The OIDC_* settings as settings.py reads them, each run in a fresh `manage.py` with only the
given environment: the client secret from a file, and every half-done configuration refused at
start with what is missing."""

import pytest

from toolkitrag.tests.test_settings import GOOD_PROD_ENV, run_django

SSO = {"OIDC_ISSUER": "https://idp.example.org/realms/staff/", "OIDC_CLIENT_ID": "toolkitrag"}


def test_the_secret_comes_from_its_file_without_the_newline_and_sso_starts_nothing(tmp_path):
    secret = tmp_path / "oidc-client-secret"
    secret.write_text("s3cret-from-a-file\n")
    script = (
        "from django.conf import settings as s; "
        "print(repr(s.OIDC_RP_CLIENT_SECRET), s.OIDC_ISSUER, s.SSO_ENABLED, s.OIDC_GROUP_MAP, "
        "s.OIDC_RP_SCOPES)"
    )
    env = {
        **SSO,
        "OIDC_CLIENT_SECRET_FILE": str(secret),
        "OIDC_GROUP_MAP": "/staff=Staff,9f1c-guid=Finance team",
    }
    result = run_django(env, "shell", "--no-imports", "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == (
        "'s3cret-from-a-file' https://idp.example.org/realms/staff True "
        "{'/staff': 'Staff', '9f1c-guid': 'Finance team'} openid email profile"
    )


@pytest.mark.parametrize(
    "env, says",
    [
        ({"OIDC_ISSUER": SSO["OIDC_ISSUER"]}, "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET_FILE are needed"),
        ({**SSO, "OIDC_CLIENT_SECRET_FILE": "/nonexistent/secret"}, "OIDC_CLIENT_SECRET_FILE cannot be read"),
        (
            {**SSO, "OIDC_CLIENT_SECRET": "x", "OIDC_SCOPES": "email profile"},
            "OIDC_SCOPES must include openid",
        ),
        ({"OIDC_SSO_ONLY": "true"}, "OIDC_SSO_ONLY=true needs OIDC_ISSUER"),
        ({"OIDC_SSO_ONLY": "perhaps"}, "OIDC_SSO_ONLY"),
    ],
)
def test_a_half_done_configuration_is_refused_at_start(env, says):
    result = run_django(env, "check")
    assert result.returncode != 0 and says in result.stderr, result.stderr


def test_prod_wants_an_https_issuer():
    prod = {**GOOD_PROD_ENV, **SSO, "OIDC_CLIENT_SECRET": "x"}
    result = run_django({**prod, "OIDC_ISSUER": "http://idp.example.org"}, "check")
    assert result.returncode != 0 and "OIDC_ISSUER must be an https:// URL in prod" in result.stderr
    assert run_django(prod, "check").returncode == 0

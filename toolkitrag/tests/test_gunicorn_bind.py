"""gunicorn listens on loopback only, so the X-Real-IP that TRUSTED_PROXY_COUNT makes the app
believe can come only from the local proxy: the default bind is 127.0.0.1:8000, the unit does not
override it, and ENV=prod refuses a public GUNICORN_BIND while TRUSTED_PROXY_COUNT > 0."""

import re
import runpy

import pytest

from toolkitrag.environment import public_bind_problem
from toolkitrag.testing import REPO_ROOT
from toolkitrag.tests.test_settings import GOOD_PROD_ENV, run_django


@pytest.mark.parametrize(
    "bind", ["127.0.0.1:8000", "127.0.0.2:8000", "localhost:8000", "[::1]:8000", "unix:/run/toolkitrag.sock"]
)
def test_loopback_and_unix_sockets_are_fine(bind):
    assert public_bind_problem(bind) is None


@pytest.mark.parametrize(
    "bind", ["0.0.0.0:8000", ":8000", "[::]:8000", "203.0.113.7:8000", "toolkit.example.org:80"]
)
def test_public_addresses_are_a_problem_naming_the_fix(bind):
    problem = public_bind_problem(bind)
    assert problem and f"GUNICORN_BIND={bind}" in problem and "127.0.0.1:8000" in problem


def test_gunicorn_conf_binds_to_loopback_by_default(monkeypatch):
    monkeypatch.delenv("GUNICORN_BIND", raising=False)
    config = runpy.run_path(str(REPO_ROOT / "deploy" / "gunicorn.conf.py"))
    assert config["bind"] == "127.0.0.1:8000"
    assert config["forwarded_allow_ips"] == "127.0.0.1,::1"


def test_the_units_and_deploy_guide_do_not_bind_gunicorn_elsewhere():
    unit = (REPO_ROOT / "deploy" / "toolkitrag.service").read_text()
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1)
    assert not re.search(r"(^|\s)(-b|--bind)(\s|=)", exec_start), exec_start
    assert "GUNICORN_BIND" not in unit
    for text in (REPO_ROOT / "DEPLOY.md").read_text(), (REPO_ROOT / ".env.example").read_text():
        for value in re.findall(r"^GUNICORN_BIND=(.*)$", text, re.M):
            assert public_bind_problem(value) is None, value


def test_prod_refuses_a_public_bind_while_trusting_the_proxy():
    env = {**GOOD_PROD_ENV, "TRUSTED_PROXY_COUNT": "1", "GUNICORN_BIND": "0.0.0.0:8000"}
    result = run_django(env, "check")
    assert result.returncode != 0
    assert "GUNICORN_BIND=0.0.0.0:8000 lets clients reach gunicorn without the proxy" in result.stderr
    # Without trusting a proxy there is nothing to spoof; on loopback all is well.
    assert run_django({**env, "TRUSTED_PROXY_COUNT": "0"}, "check").returncode == 0
    assert run_django({**env, "GUNICORN_BIND": "127.0.0.1:8000"}, "check").returncode == 0

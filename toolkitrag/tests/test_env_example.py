import re

from toolkitrag.testing import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"


def variables_read_by_deploy_files() -> set[str]:
    """Variables the operator's scripts and gunicorn.conf.py read from the env file or environment."""
    found = set()
    for path in [*DEPLOY.glob("*.sh"), *DEPLOY.glob("*.py")]:
        text = path.read_text()
        found |= set(re.findall(r"env_value\s+([A-Z][A-Z0-9_]*)", text))
        found |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", text))
        found |= set(re.findall(r'environ(?:\.get)?[\(\[]\s*"([A-Z][A-Z0-9_]*)"', text))
    return found


def test_env_example_lists_every_variable_settings_read():
    settings_source = (REPO_ROOT / "toolkitrag" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"', settings_source))
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (REPO_ROOT / ".env.example").read_text(), re.M))
    assert read, "no env reads found: the pattern is out of date"
    assert read - listed == set(), "missing from .env.example"
    assert listed - read - variables_read_by_deploy_files() == set(), "listed in .env.example but never read"

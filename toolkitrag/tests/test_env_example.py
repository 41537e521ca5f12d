import re

from toolkitrag.testing import REPO_ROOT


def test_env_example_lists_every_variable_settings_read():
    settings_source = (REPO_ROOT / "toolkitrag" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"', settings_source))
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (REPO_ROOT / ".env.example").read_text(), re.M))
    assert read, "no env reads found: the pattern is out of date"
    assert read - listed == set(), "missing from .env.example"
    assert listed - read == set(), "listed in .env.example but never read"

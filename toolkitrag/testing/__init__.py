"""What the tests share that is not a fixture: test data, builders and servers in child processes.

Fixtures live in the conftest.py modules and use these; tests import from here, never from a
conftest.py (pytest loads those itself, and importing one as a module runs it twice).
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - every test user's password (the user fixtures)

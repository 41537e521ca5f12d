"""Folders a test makes unwritable for real, even for root."""

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[Path]:
    """`chattr +i` on path for the block (root ignores permissions; an immutable inode binds even
    root); skips the test where the filesystem or container does not allow it."""
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode:  # noqa: S603
        pytest.skip(f"chattr +i is not available here: cannot make {path.name} unwritable for root")
    try:
        yield path
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)  # noqa: S603

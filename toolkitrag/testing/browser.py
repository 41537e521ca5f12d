"""Tests in a real browser: Debian's Chromium driven by Playwright (no browser download needed).

The `page` fixture lives in the root conftest.py; this module holds what tests import.
"""

import os
import shutil

import pytest

from toolkitrag.testing import PASSWORD

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="needs Chromium (apt-get install chromium)"
)
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

# A phone's browser: context options for the `open_page` fixture (a viewport the size of a common
# phone's, touch, and mobile layout rules such as the meta viewport).
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 3,
}


def log_in(page, user):
    page.goto("/auth/login")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")

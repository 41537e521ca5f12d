"""API tokens in a real browser: made on the account page, shown once, used by a script, revoked."""

import json
import urllib.error
import urllib.request

import pytest

from accounts.models import ApiToken
from toolkitrag.testing.browser import log_in, needs_chromium

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium, pytest.mark.system]


def list_plans(base_url: str, token: str) -> int:
    request = urllib.request.Request(base_url + "/api/plans/", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            json.loads(response.read())
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_make_a_token_copy_it_once_use_it_and_revoke_it(page, owner, live_server):
    log_in(page, owner)
    page.get_by_role("link", name=owner.username).click()
    page.wait_for_url("**/auth/account")
    assert "You have no API tokens." in page.content()

    page.fill("#id_name", "weekly report")
    page.fill("#id_expires_in_days", "30")
    page.get_by_role("button", name="Create token").click()
    page.wait_for_url("**/auth/account")
    token = page.input_value("#new-token-value")
    assert token.startswith("tkr_")
    assert list_plans(live_server.url, token) == 200  # a script uses it, no cookie, no CSRF token

    row = page.locator("#token-list tbody tr")
    assert "weekly report" in row.inner_text() and "Active" in row.inner_text()
    page.reload()
    assert page.locator("#new-token-value").count() == 0  # shown once only
    page.go_back()
    assert token not in page.content()
    page.goto("/auth/account")
    assert "Never" not in page.locator("#token-list tbody tr td").nth(3).inner_text()  # last used: now

    page.get_by_role("button", name="Revoke weekly report").click()
    page.wait_for_url("**/auth/account")
    assert "is revoked" in page.locator(".messages").inner_text()
    assert "Revoked" in page.locator("#token-list tbody tr").inner_text()
    assert list_plans(live_server.url, token) == 401
    assert ApiToken.objects.get().revoked_at is not None


def test_the_token_list_fits_a_phone(phone_page, owner):
    log_in(phone_page, owner)
    for n in range(3):
        phone_page.goto("/auth/account")
        phone_page.fill("#id_name", f"a rather long token name number {n} for the phone layout")
        phone_page.get_by_role("button", name="Create token").click()
        phone_page.wait_for_url("**/auth/account")
    phone_page.goto("/auth/account")
    assert phone_page.locator("#token-list tbody tr").count() == 3
    page_width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= phone_page.viewport_size["width"]  # the table scrolls in its box, not the page

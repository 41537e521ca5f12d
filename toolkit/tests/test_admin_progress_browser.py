"""The versions list follows a run in a real browser, with the texts the server sends (the page
script copies no label and builds no URL): Chromium via Playwright against a live server."""

import pytest
from django.urls import reverse

from toolkit.models import ToolkitVersion
from toolkitrag.testing.browser import log_in, needs_chromium
from toolkitrag.testing.toolkits import ingest_toolkit

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium]


def test_the_list_shows_a_run_failing_with_the_servers_label_and_error(page, toolkit_admin):
    version = ingest_toolkit()
    ToolkitVersion.objects.filter(pk=version.pk).update(status=ToolkitVersion.Status.PENDING)
    log_in(page, toolkit_admin)
    page.goto(reverse("admin:toolkit_toolkitversion_changelist"))
    badge = page.locator(f'.ingest-status[data-document="{version.pk}"]')
    assert badge.text_content() == "Pending"

    reason = "The file could not be parsed: " + "x" * 200
    ToolkitVersion.objects.filter(pk=version.pk).update(status=ToolkitVersion.Status.FAILED, error=reason)
    page.wait_for_function(
        "selector => document.querySelector(selector).textContent === 'Failed'",
        arg=f'.ingest-status[data-document="{version.pk}"]',
    )
    assert badge.get_attribute("class") == "ingest-status ingest-failed"
    assert badge.get_attribute("title") == reason
    shown = page.locator(f'.ingest-error[data-document="{version.pk}"]').text_content()
    assert shown == reason[:140] + "…"  # as the column renders it on a fresh page
    page.reload()
    assert page.locator(f'.ingest-error[data-document="{version.pk}"]').text_content() == shown
    assert page.console_errors == []

"""Analytics date ranges outside a sane window of years are a form error, never a 500: 9999-12-31
once overflowed Python's dates (OverflowError) on the pages and cut the CSV off mid-download."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from rag.forms import AnalyticsFilterForm

pytestmark = pytest.mark.django_db

PAGES = ["/admin/analytics/", "/admin/analytics/versions/", "/admin/analytics/feedback/"]
CSVS = ["/admin/analytics/messages.csv", "/admin/analytics/feedback.csv"]
HOSTILE_RANGES = [
    {"start": "9999-12-01", "end": "9999-12-31"},
    {"days": "0", "start": "9999-12-01", "end": "9999-12-31"},
    {"days": "0", "start": "9999-12-31"},
    {"days": "0", "start": "0001-01-01", "end": "0001-01-31"},
    {"days": "0", "start": "1999-12-31", "end": "2000-01-05"},
    {"days": "7", "end": "9999-12-31"},
]


@pytest.fixture
def analyst(staff_user):
    staff_user.user_permissions.add(Permission.objects.get(codename="view_analytics"))
    return staff_user


@pytest.mark.parametrize("query", HOSTILE_RANGES)
def test_far_dates_are_a_form_error_and_the_figures_fall_back_to_30_days(client, analyst, query):
    client.force_login(analyst)
    last_year = timezone.localdate().year + 1
    for url in PAGES:
        response = client.get(url, query)
        assert response.status_code == 200, url
        form = response.context["form"]
        assert f"Choose a day between 2000 and {last_year}." in str(form.errors), url
    for url in CSVS:
        response = client.get(url, query)
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content).decode("utf-8")
        rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))
        assert rows[0][0] == "id", url  # a whole file: header, then rows of the last 30 days
        today = timezone.localdate()
        assert f"{today:%Y-%m-%d}.csv" in response["Content-Disposition"]


def test_ranges_within_the_window_still_work():
    year = timezone.localdate().year
    form = AnalyticsFilterForm({"days": "0", "start": "2000-01-01", "end": "2000-12-31"})
    assert form.is_valid(), form.errors
    assert (form.filters().start.isoformat(), form.filters().days) == ("2000-01-01", 366)
    form = AnalyticsFilterForm({"days": "0", "start": f"{year + 1}-01-01", "end": f"{year + 1}-01-31"})
    assert form.is_valid(), form.errors
    form = AnalyticsFilterForm({"days": "0", "start": f"{year + 2}-01-01", "end": f"{year + 2}-01-31"})
    assert not form.is_valid() and form.filters().days == 30

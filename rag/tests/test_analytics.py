import csv
import datetime as dt
import io

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from rag import analytics
from rag.admin import CappedCountPaginator
from rag.models import Conversation, Feedback, Message
from toolkit.models import Chunk, ToolkitVersion
from toolkitrag.testing.toolkits import ingest_toolkit

pytestmark = pytest.mark.django_db


def seed(user, query, *, days_ago, answered, total, retrieval_ms=None, first_token=None, cited=(),
         nearest=None, rating=None, comment="", versions=()) -> Message:  # fmt: skip
    conversation = Conversation.objects.create(user=user, title=query[:80])
    message = Message.objects.create(
        conversation=conversation,
        user=user,
        query=query,
        answer="An answer." if answered else "The toolkit does not cover this.",
        answered=answered,
        citations=[
            {
                "n": i + 1,
                "chunk_id": c.pk,
                "toolkit": "Community Toolkit",
                "version_tag": "v1",
                "heading_path": c.heading_path,
                "snippet": c.text[:50],
                "url": f"/toolkit/source/{c.pk}",
            }
            for i, c in enumerate(cited)
        ],  # fmt: skip
        cited_chunk_ids=[c.pk for c in cited],
        retrieval=[{"chunk_id": nearest.pk, "score": 0.5, "keyword_rank": None, "vector_rank": 1}]
        if nearest
        else [],
        document_ids=[v.pk for v in versions],
        retrieval_ms=retrieval_ms,
        first_token_ms=first_token,
        total_ms=total,
    )
    moment = timezone.now() - dt.timedelta(days=days_ago)
    Message.objects.filter(pk=message.pk).update(created_at=moment)
    if rating:
        Feedback.objects.create(message=message, user=user, rating=rating, comment=comment)
    return message


@pytest.fixture
def data(owner, second_user):
    v1 = ingest_toolkit()
    sections = {c.heading_path[-1]: c for c in Chunk.objects.filter(document=v1)}
    budget, flood, planning = sections["1.1 Budget"], sections["2 Emergencies"], sections["1 Planning"]
    up, down = Feedback.Rating.UP, Feedback.Rating.DOWN
    seed(owner, "How is the budget reviewed?", days_ago=1, answered=True, total=100, retrieval_ms=10,
         first_token=50, cited=[budget], rating=up, versions=[v1])  # fmt: skip
    seed(owner, "Who opens the rest centre?", days_ago=1, answered=True, total=200, retrieval_ms=20,
         first_token=60, cited=[flood], rating=down, comment="Too vague", versions=[v1])  # fmt: skip
    seed(owner, "What about parking?", days_ago=2, answered=False, total=300, retrieval_ms=30,
         first_token=70, nearest=planning, versions=[v1])  # fmt: skip
    seed(second_user, "what about PARKING??", days_ago=2, answered=False, total=400, retrieval_ms=40,
         first_token=80, nearest=planning, versions=[v1])  # fmt: skip
    seed(second_user, "How is the budget reviewed", days_ago=40, answered=True, total=1000, cited=[budget],
         versions=[v1])  # fmt: skip
    return {"v1": v1, "budget": budget, "flood": flood, "planning": planning}


LAST_30 = analytics.Filters.last_days(30)


def test_usage_counts_questions_answers_and_users_per_day(data):
    usage = analytics.usage(LAST_30)
    assert (usage["questions"], usage["answered"], usage["unanswered"]) == (4, 2, 2)
    assert (usage["active_users"], usage["conversations"], usage["answered_ratio"]) == (2, 4, 0.5)
    assert len(usage["days"]) == 30 and usage["days"][-1]["day"] == timezone.localdate()
    by_day = {d["day"]: (d["questions"], d["answered"], d["unanswered"]) for d in usage["days"]}
    today = timezone.localdate()
    assert by_day[today - dt.timedelta(days=1)] == (2, 2, 0)
    assert by_day[today - dt.timedelta(days=2)] == (2, 0, 2)
    assert sum(q for q, _, _ in by_day.values()) == 4
    assert analytics.usage(analytics.Filters.last_days(90))["questions"] == 5


def test_feedback_totals_and_weekly_ratio(data):
    feedback = analytics.feedback(LAST_30)
    assert (feedback["up"], feedback["down"], feedback["up_ratio"]) == (1, 1, 0.5)
    assert sum(w["up"] + w["down"] for w in feedback["weeks"]) == 2


def test_latency_percentiles_match_postgresql_interpolation(data):
    latency = analytics.latency(LAST_30)
    # totals 100, 200, 300, 400: p50 = 250, p95 = 300 + 0.85 × 100 = 385
    assert (latency["total_ms_p50"], latency["total_ms_p95"]) == (250, 385)
    assert (latency["retrieval_ms_p50"], latency["retrieval_ms_p95"]) == (25, 38)  # 38.5 rounds to even
    assert (latency["first_token_ms_p50"], latency["first_token_ms_p95"]) == (65, 78)
    assert latency["measured"] == 4


def test_most_cited_and_never_cited_sections(data):
    cited = analytics.citations(analytics.Filters.last_days(90))["sections"]
    assert [(c["heading"], c["citations"]) for c in cited] == [
        ("1 Planning > 1.1 Budget", 2),
        ("2 Emergencies", 1),
    ]
    figures = analytics.citations(LAST_30)
    assert [(d["version_tag"], d["citations"]) for d in figures["documents"]] == [("v1", 2)]
    never = figures["never_cited"]
    assert never["total"] == 3
    assert [s["heading"] for s in never["sections"]] == [
        "1 Planning",
        "1 Planning > 1.2 Volunteers",
        "3 Evaluation",
    ]


def test_content_gaps_group_the_same_question_and_the_nearest_section(data):
    gaps = analytics.content_gaps(LAST_30)
    by_text = [
        (g["normalised"], g["asked"], g["unanswered"], g["thumbs_down"], g["users"]) for g in gaps["by_text"]
    ]
    assert by_text == [("what about parking", 2, 2, 0, 2), ("who opens the rest centre", 1, 0, 1, 1)]
    ((section),) = gaps["by_section"]
    assert (section["heading"], section["asked"]) == ("1 Planning", 2)
    assert sorted(section["examples"]) == ["What about parking?", "what about PARKING??"]


def test_versions_compare_the_days_before_and_after_each_activation(data, owner):
    now = timezone.now()
    v1 = data["v1"]
    ToolkitVersion.objects.filter(pk=v1.pk).update(activated_at=now - dt.timedelta(days=50))
    v2 = ingest_toolkit(version="v2")
    ToolkitVersion.objects.filter(pk=v2.pk).update(activated_at=now - dt.timedelta(days=1, hours=12))

    rows = analytics.versions(LAST_30)
    assert [(r["version_tag"], r["is_active"]) for r in rows] == [("v1", False), ("v2", True)]
    v1_row, v2_row = rows
    # v1: nothing in the 30 days before; after it, until 30 days later: the question of 40 days ago.
    assert (v1_row["before"]["questions"], v1_row["questions"], v1_row["answered_ratio"]) == (0, 1, 1.0)
    # v2 went live 1.5 days ago: before it, the two unanswered parking questions; after, two answered.
    before = v2_row["before"]
    assert (before["questions"], before["answered_ratio"], before["users"]) == (2, 0.0, 2)
    assert (v2_row["questions"], v2_row["answered_ratio"], v2_row["up_ratio"]) == (2, 1.0, 0.5)
    assert v2_row["answered_change"] == pytest.approx(100.0) and v2_row["up_change"] is None
    assert (before["total_p50"], v2_row["total_p50"]) == (350, 150)

    # A 7-day window: v1's "after" stops at 43 days ago and no longer includes the 40-day-old question.
    assert analytics.versions(analytics.Filters.last_days(7))[0]["questions"] == 0
    only_v2 = analytics.versions(analytics.Filters.last_days(30, document_id=v2.pk))
    assert [r["version_tag"] for r in only_v2] == ["v2"]
    # "Before" never reaches back past the previous version's own start.
    ToolkitVersion.objects.filter(pk=v1.pk).update(activated_at=now - dt.timedelta(days=1, hours=20))
    assert analytics.versions(LAST_30)[1]["before"]["questions"] == 0  # v1 was live 8 hours, nobody asked


def test_toolkit_filter_keeps_only_questions_asked_of_that_toolkit(data, owner):
    other = ingest_toolkit(name="Other Toolkit")
    seed(owner, "Other?", days_ago=1, answered=True, total=50, versions=[other])
    assert analytics.usage(LAST_30)["questions"] == 5
    assert (
        analytics.usage(analytics.Filters.last_days(30, toolkit_id=data["v1"].toolkit_id))["questions"] == 4
    )
    assert analytics.usage(analytics.Filters.last_days(30, toolkit_id=other.toolkit_id))["questions"] == 1


# --- pages and permissions ---------------------------------------------------------------------


@pytest.fixture
def analyst(staff_user):
    staff_user.user_permissions.add(Permission.objects.get(codename="view_analytics"))
    return staff_user


URLS = [
    "/admin/analytics/",
    "/admin/analytics/feedback/",
    "/admin/analytics/messages.csv",
    "/admin/analytics/feedback.csv",
]


def test_anonymous_and_non_staff_are_sent_to_the_admin_login(client, owner, data):
    for url in URLS:
        assert client.get(url)["Location"].startswith("/admin/login/")
    client.force_login(owner)
    for url in URLS:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_staff_without_the_permission_get_403_and_no_figures(client, staff_user, data):
    client.force_login(staff_user)
    for url in URLS:
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"parking" not in response.content.lower()
    assert b"analytics-module" not in client.get("/admin/").content
    assert client.get("/admin/rag/message/").status_code == 403  # nor the message log


def test_the_analytics_page_shows_the_figures_with_server_side_charts(client, analyst, data):
    client.force_login(analyst)
    assert b"analytics-module" in client.get("/admin/").content
    response = client.get("/admin/analytics/?days=30")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Questions <strong>4</strong>" in page and "Answered <strong>2</strong> 50%" in page
    assert "Active users <strong>2</strong>" in page
    assert "<svg" in page and "<script" not in page.split('id="content"')[1]
    assert "what about PARKING??" in page or "What about parking?" in page
    assert "250 ms" in page and "385 ms" in page
    assert "1 Planning &gt; 1.1 Budget" in page


def test_the_versions_page_compares_before_and_after(client, analyst, data):
    ingest_toolkit(version="v2")
    client.force_login(analyst)
    page = client.get("/admin/analytics/versions/?days=30").content.decode()
    assert "Per version: before and after" in page and "v2 (active)" in page and "before: " in page


def test_bad_filters_show_an_error_and_fall_back_to_30_days(client, analyst, data):
    client.force_login(analyst)
    response = client.get("/admin/analytics/?days=0&start=2026-05-01&end=2026-04-01")
    assert response.status_code == 200
    assert "The range ends before it starts." in response.content.decode()
    assert response.context["filters"].days == 30
    assert client.get("/admin/analytics/?days=abc&toolkit=999999&version=x").status_code == 200


def test_custom_date_range(client, analyst, data):
    client.force_login(analyst)
    day = timezone.localdate() - dt.timedelta(days=40)
    response = client.get(f"/admin/analytics/?days=0&start={day}&end={day}")
    assert response.context["usage"]["questions"] == 1


def test_feedback_triage_lists_comments_and_marks_them_handled(client, analyst, data):
    client.force_login(analyst)
    page = client.get("/admin/analytics/feedback/").content.decode()
    assert "Too vague" in page and "Who opens the rest centre?" in page
    assert "How is the budget reviewed?" not in page  # a thumbs up without a comment needs no triage
    feedback = Feedback.objects.get(comment="Too vague")
    response = client.post(
        f"/admin/analytics/feedback/{feedback.pk}/handle", {"handled": "yes", "next": "state=open"}
    )
    assert response["Location"] == "/admin/analytics/feedback/?state=open"
    feedback.refresh_from_db()
    assert feedback.handled_at is not None and feedback.handled_by == analyst
    assert "Too vague" not in client.get("/admin/analytics/feedback/").content.decode()
    assert "Too vague" in client.get("/admin/analytics/feedback/?state=handled").content.decode()
    client.post(f"/admin/analytics/feedback/{feedback.pk}/handle", {"handled": "no"})
    feedback.refresh_from_db()
    assert feedback.handled_at is None and feedback.handled_by is None


def read_csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_messages_csv_has_every_message_of_the_period(client, analyst, data):
    client.force_login(analyst)
    response = client.get("/admin/analytics/messages.csv?days=30")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="messages-')
    rows = read_csv(response)
    header, rows = rows[0], rows[1:]
    assert header[:5] == ["id", "asked_at", "user", "conversation_id", "question"]
    assert sorted(r[4] for r in rows) == sorted(
        [
            "How is the budget reviewed?",
            "Who opens the rest centre?",
            "What about parking?",
            "what about PARKING??",
        ]
    )
    vague = next(r for r in rows if r[4] == "Who opens the rest centre?")
    assert vague[header.index("rating")] == "Not helpful" and vague[header.index("comment")] == "Too vague"
    assert vague[header.index("cited_sections")] == "[1] Community Toolkit v1 — 2 Emergencies"


def test_csv_cells_that_spreadsheets_would_run_as_formulas_are_neutralised(client, analyst, data, owner):
    evil = seed(owner, '=HYPERLINK("http://evil.example","x")', days_ago=0, answered=False, total=1)
    Feedback.objects.create(
        message=evil, user=owner, rating=-1, comment='+cmd|" /C calc"!A0, "quoted", \nnext line'
    )
    seed(owner, "-2+3", days_ago=0, answered=False, total=1)
    seed(owner, "@SUM(A1)", days_ago=0, answered=False, total=1)
    client.force_login(analyst)
    questions = [r[4] for r in read_csv(client.get("/admin/analytics/messages.csv"))[1:]]
    assert '\'=HYPERLINK("http://evil.example","x")' in questions
    assert "'-2+3" in questions and "'@SUM(A1)" in questions
    feedback_rows = read_csv(client.get("/admin/analytics/feedback.csv"))
    header = feedback_rows[0]
    evil_row = next(r for r in feedback_rows[1:] if r[header.index("message_id")] == str(evil.pk))
    assert evil_row[header.index("comment")] == '\'+cmd|" /C calc"!A0, "quoted", \nnext line'
    assert evil_row[header.index("question")].startswith("'=HYPERLINK")


def test_message_log_is_read_only_searchable_and_counted_up_to_a_cap(client, analyst, data):
    analyst.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_message", "view_feedback", "view_conversation"])
    )
    client.force_login(analyst)
    response = client.get("/admin/rag/message/?q=parking")
    assert response.status_code == 200 and response.context["cl"].result_count == 2
    assert client.get("/admin/rag/message/add/").status_code == 403
    message = Message.objects.first()
    detail = client.get(f"/admin/rag/message/{message.pk}/change/")
    assert detail.status_code == 200 and b'name="query"' not in detail.content  # shown, not editable
    assert client.post(f"/admin/rag/message/{message.pk}/delete/").status_code == 403
    assert client.get("/admin/rag/feedback/?handled=no").status_code == 200
    assert client.get("/admin/rag/conversation/?q=parking").status_code == 200

    paginator = CappedCountPaginator(Message.objects.order_by("pk"), 2)
    paginator.CAP = 3
    assert paginator.count == 4  # counts to the cap plus one, never the whole table

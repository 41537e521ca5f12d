"""Golden questions in the admin: the version page's comparison, activation with confirmation,
runs started by ingestion, one-click creation from analytics, CSV in and out, and isolation
(staff-only data)."""

import io

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from rag import golden
from rag.models import Feedback, GoldenQuestion, GoldenRun, RegressionAcceptance
from rag.tests.test_golden import BUDGET, FLOOD, add_golden, budget_heading, flood_heading, without
from toolkit.models import ToolkitVersion
from toolkitrag.testing.docx_factory import make_docx
from toolkitrag.testing.toolkits import TOOLKIT, answered, ingest_toolkit

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(staff_user):
    """Staff who manage toolkits and golden questions and read analytics (an administrator)."""
    staff_user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["toolkit", "rag"]))
    return staff_user


@pytest.fixture
def regression(db):
    """v1 active and passing both questions; v2 (inactive) drops the budget section."""
    v1 = ingest_toolkit(version="v1")
    add_golden(v1, BUDGET, [budget_heading(v1)], words=["quarter"])
    add_golden(v1, FLOOD, [flood_heading(v1)])
    golden.run_version(v1, "test")
    v2 = ingest_toolkit(without("1.1 Budget"), version="v2", activate=False)
    golden.run_version(v2, "test")
    return v1, v2


def page(client, version) -> str:
    response = client.get(reverse("admin:rag_golden_version", args=[version.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_version_page_shows_the_newly_failing_question_beside_the_active_answer(
    client, editor, regression
):
    v1, v2 = regression
    client.force_login(editor)
    html = page(client, v2)
    assert "1 newly failing" in html and "Newly failing" in html and BUDGET in html
    assert "reviewed every quarter" in html  # the active version's answer, beside the new one
    budget_chunk = v1.chunks.get(heading__endswith="1.1 Budget")
    assert f'href="/toolkit/source/{budget_chunk.pk}#passage"' in html  # the section v1 cited
    assert "I accept that the golden questions listed above newly fail" in html
    active_page = page(client, v1)  # the active version's own page: nothing to compare with
    assert "This is the active version." in active_page and "Activate" not in active_page
    version_page = client.get(reverse("admin:toolkit_toolkitversion_change", args=[v2.pk])).content.decode()
    assert (
        "1 newly failing" in version_page
        and reverse("admin:rag_golden_version", args=[v2.pk]) in version_page
    )


def test_activation_in_the_admin_asks_for_confirmation_and_records_who_accepted(
    client, editor, regression, settings
):
    v1, v2 = regression
    client.force_login(editor)
    url = reverse("admin:rag_golden_activate", args=[v2.pk])
    response = client.post(url, follow=True)
    assert "newly fail" in response.content.decode()
    v2.refresh_from_db()
    assert not v2.is_active

    # The list's "Make active" action refuses too, pointing at the page that confirms.
    response = client.post(
        reverse("admin:toolkit_toolkitversion_changelist"),
        {"action": "make_active", "_selected_action": [v2.pk]},
        follow=True,
    )
    assert "See them and confirm" in response.content.decode()
    v2.refresh_from_db()
    assert not v2.is_active

    settings.GOLDEN_BLOCK_ACTIVATION = True
    client.post(url, {"accept_regressions": "on"})
    v2.refresh_from_db()
    assert not v2.is_active
    assert "GOLDEN_BLOCK_ACTIVATION forbids" in page(client, v2)

    settings.GOLDEN_BLOCK_ACTIVATION = False
    client.post(url, {"accept_regressions": "on"})
    v2.refresh_from_db()
    assert v2.is_active
    accepted = RegressionAcceptance.objects.get()
    assert accepted.accepted_by == editor and accepted.regressions[0]["question"] == BUDGET
    assert "accepted 1" in page(client, v2)


def test_a_finished_upload_runs_the_golden_questions_and_waits_to_activate(
    client, editor, regression, django_capture_on_commit_callbacks
):
    v1, _ = regression
    client.force_login(editor)
    upload = SimpleUploadedFile("kit.docx", make_docx(without("1.1 Budget")))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/toolkit/toolkitversion/add/",
            {
                "toolkit": v1.toolkit_id,
                "version_tag": "v3",
                "title": "",
                "source_file": upload,
                "activate": "on",
            },
        )
    assert response.status_code == 302
    v3 = ToolkitVersion.objects.get(version_tag="v3")
    run = GoldenRun.objects.get(version=v3)
    assert (run.status, run.trigger, run.passed, run.failed) == ("done", "ingested", 1, 1)
    v3.refresh_from_db()
    assert not v3.is_active and not v3.activate_when_ready  # waits for an editor to confirm
    assert "1 newly failing" in page(client, v3)


def test_a_clean_upload_ticked_activate_is_activated_after_its_run(
    client, editor, regression, django_capture_on_commit_callbacks
):
    v1, _ = regression
    client.force_login(editor)
    upload = SimpleUploadedFile("kit.docx", make_docx(TOOLKIT))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/toolkit/toolkitversion/add/",
            {
                "toolkit": v1.toolkit_id,
                "version_tag": "v3",
                "title": "",
                "source_file": upload,
                "activate": "on",
            },
        )
    v3 = ToolkitVersion.objects.get(version_tag="v3")
    assert v3.is_active and GoldenRun.objects.get(version=v3).passed == 2


def test_ingest_with_activate_refuses_regressions_unless_accepted(regression, tmp_path):
    v1, _ = regression
    path = tmp_path / "v3.docx"
    path.write_bytes(make_docx(without("1.1 Budget")))
    out = io.StringIO()
    with pytest.raises(CommandError, match="Not activated"):
        call_command(
            "ingest", str(path), "--toolkit", v1.toolkit.name, "--version-tag", "v3", "--activate", stdout=out
        )
    assert "1 newly failing" in out.getvalue()
    assert not ToolkitVersion.objects.get(version_tag="v3").is_active
    call_command(
        "ingest", str(path), "--toolkit", v1.toolkit.name, "--version-tag", "v4", "--activate",
        "--accept-regressions", stdout=io.StringIO(),
    )  # fmt: skip
    assert ToolkitVersion.objects.get(version_tag="v4").is_active
    assert RegressionAcceptance.objects.get().accepted_by is None  # the command line


def test_reindex_reruns_the_golden_questions_of_the_active_version(regression):
    v1, _ = regression
    out = io.StringIO()
    call_command("reindex", "--version", str(v1.pk), "--keyword-only", stdout=out)
    assert f"Golden questions on {v1}: 2 passed, 0 failed (before: 2 passed, 0 failed)." in out.getvalue()
    assert GoldenRun.objects.filter(version=v1, trigger="reindex").count() == 1


def test_one_click_from_a_thumbs_up_prefills_the_question_and_its_cited_section(client, editor, owner):
    version = ingest_toolkit()
    message = answered(owner, BUDGET)
    Feedback.objects.create(message=message, user=owner, rating=Feedback.Rating.UP)
    client.force_login(editor)
    triage = client.get("/admin/analytics/feedback/?kind=up").content.decode()
    link = f"{reverse('admin:rag_goldenquestion_add')}?from_message={message.pk}&amp;expect=cited"
    assert link in triage

    form = client.get(link.replace("&amp;", "&")).context["adminform"].form
    assert form.initial["question"] == BUDGET and form.initial["toolkit"] == version.toolkit_id
    assert form.initial["expected_headings"] == [budget_heading(version)]
    response = client.post(
        reverse("admin:rag_goldenquestion_add"),
        {
            "toolkit": version.toolkit_id,
            "question": BUDGET,
            "expected_headings": [budget_heading(version)],
            "must_contain": "quarter",
            "origin": form.initial["origin"],
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    created = GoldenQuestion.objects.get()
    assert created.expected_sections == golden.expected_sections(version, [budget_heading(version)])
    assert created.must_contain == ["quarter"] and created.created_by == editor


def test_one_click_from_a_content_gap_offers_must_be_refused(client, editor, owner):
    ingest_toolkit()
    message = answered(owner, "What is the recipe for chocolate cake?")
    assert not message.answered
    client.force_login(editor)
    overview = client.get("/admin/analytics/").content.decode()
    link = f"{reverse('admin:rag_goldenquestion_add')}?from_message={message.pk}&amp;expect=refuse"
    assert link in overview
    form = client.get(link.replace("&amp;", "&")).context["adminform"].form
    assert form.initial["must_refuse"] is True and form.initial["expected_headings"] == []


def test_the_form_refuses_a_section_the_toolkit_does_not_have(client, editor):
    version = ingest_toolkit()
    client.force_login(editor)
    response = client.post(
        reverse("admin:rag_goldenquestion_add"),
        {"toolkit": version.toolkit_id, "question": BUDGET, "expected_headings": ["9 Nowhere"]},
    )
    assert response.status_code == 200 and not GoldenQuestion.objects.exists()


def test_csv_import_is_all_or_nothing_with_row_errors(client, editor):
    version = ingest_toolkit()
    client.force_login(editor)
    heading = budget_heading(version)
    header = "question,expected_sections,must_contain,must_refuse\n"
    bad = f"{header}{BUDGET},{heading},quarter,no\n,{heading},,no\nCake?,9 Nowhere,,maybe\n"
    response = client.post(
        reverse("admin:rag_golden_import"),
        {"toolkit": version.toolkit_id, "file": SimpleUploadedFile("g.csv", bad.encode())},
    )
    html = response.content.decode()
    assert "Nothing was imported" in html and "Row 3: the question is empty." in html
    assert "Row 4: must_refuse is &#x27;maybe&#x27;, not yes or no;" in html and "9 Nowhere" in html
    assert not GoldenQuestion.objects.exists()

    good = f"{header}{BUDGET},{heading},quarter|treasurer,no\nCake?,,,yes\n"
    for _ in range(2):  # safe to re-run
        response = client.post(
            reverse("admin:rag_golden_import"),
            {"toolkit": version.toolkit_id, "file": SimpleUploadedFile("g.csv", good.encode())},
        )
        assert response.status_code == 302
    assert GoldenQuestion.objects.count() == 2
    assert GoldenQuestion.objects.get(question=BUDGET).must_contain == ["quarter", "treasurer"]


def test_a_runs_csv_neutralises_formula_cells(client, editor):
    version = ingest_toolkit()
    GoldenQuestion.objects.create(toolkit=version.toolkit, question="=HYPERLINK(1) budget reviewed?")
    run = golden.run_version(version, "test")
    client.force_login(editor)
    response = client.get(reverse("admin:rag_golden_run_csv", args=[run.pk]))
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0].startswith("\ufeffquestion,must_refuse,expected_sections,passed")
    assert "'=HYPERLINK(1)" in body


def test_golden_data_is_staff_only(client, owner, staff_user, regression):
    v1, v2 = regression
    run = GoldenRun.objects.filter(version=v2).first()
    urls = [
        reverse("admin:rag_goldenquestion_changelist"),
        reverse("admin:rag_golden_import"),
        reverse("admin:rag_golden_version", args=[v2.pk]),
        reverse("admin:rag_golden_progress", args=[run.pk]),
        reverse("admin:rag_golden_run_csv", args=[run.pk]),
        reverse("admin:rag_goldenrun_changelist"),
    ]
    client.force_login(owner)  # a user: the admin's login page, nothing of the data
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url
    response = client.post(reverse("admin:rag_golden_activate", args=[v2.pk]), {"accept_regressions": "on"})
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    client.force_login(staff_user)  # staff without the golden permissions
    for url in urls:
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("admin:rag_golden_activate", args=[v2.pk])).status_code == 403
    v2.refresh_from_db()
    assert not v2.is_active

    # What a user can see of their own chat holds nothing of the runs (they are not messages).
    client.force_login(owner)
    conversations = client.get("/api/rag/conversations").content.decode()
    assert BUDGET not in conversations

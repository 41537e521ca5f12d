"""The chat's example questions: worded from the headings, and shown only when the current index
answers them from the section they were made from (rag/suggestions.py)."""

import io
import logging
from pathlib import Path

import pytest

from rag import suggestions
from rag.relevance import is_relevant
from rag.retrieval import retrieve
from rag.suggestions import checked_examples, example_questions, questions_for, strip_numbering
from toolkit import ingestion, uploads
from toolkit.access import EVERY_TOOLKIT
from toolkit.models import Toolkit, ToolkitVersion
from toolkit.search import active_version_ids
from toolkitrag.testing import REPO_ROOT
from toolkitrag.testing.toolkits import ingest_toolkit

ANSWER_URL = "/api/rag/answer"

# A toolkit whose headings need each kind of wording: -ing verbs, a list, a plain noun, a question.
WARMTH_TOOLKIT = [
    ("h1", "1 Introduction"),
    ("p", "This toolkit helps tenants' associations run a winter warmth project for their estate."),
    ("h1", "2 Getting started"),
    ("p", "A warmth project needs a small team, a store room and the landlord's agreement."),
    ("h2", "2.1 Recruiting and keeping volunteers"),
    (
        "p",
        "Recruit volunteers through the tenants' newsletter and the school gate. Keep volunteers "
        "involved with a monthly coffee morning and thank them at the annual meeting.",
    ),
    ("h2", "2.2 Roles and responsibilities"),
    (
        "table",
        [
            ["Role", "Responsibility"],
            ["Coordinator", "Keeps the rota and holds the key to the store room"],
            ["Treasurer", "Pays for heaters and blankets and keeps the receipts"],
        ],
    ),
    ("h1", "3 Running the project"),
    ("p", "The project runs from November to March, when heating bills are highest."),
    ("h2", "3.1 Identifying vulnerable residents"),
    (
        "p",
        "Ask the housing officer and the GP surgery which households struggle to heat their homes, "
        "and invite residents to register themselves. Record only what you need, with consent.",
    ),
    ("h2", "3.2 Budget"),
    (
        "p",
        "The budget comes from the council's hardship grant. Heaters cost forty pounds each and "
        "blankets twelve; the treasurer reports spending to the committee every month.",
    ),
    ("h1", "4 Keeping homes warm"),
    ("p", "Volunteers visit each registered household once a week while the project runs."),
    ("h2", "4.1 Checking heaters"),
    (
        "p",
        "Check heaters for a frayed cable or a missing guard before lending them, and attach a "
        "tag with the date of the check. Heaters that fail are returned to the supplier.",
    ),
    ("h2", "4.2 Lending blankets"),
    ("p", "Blankets are lent, not given: each one is numbered and signed out in the store room book."),
    ("h1", "5 Who this toolkit is for"),
    (
        "p",
        "Tenants' associations and residents' groups on social housing estates, with or without paid staff.",
    ),
]


def post(client, body: dict):
    return client.post(ANSWER_URL, data=body, content_type="application/json")


def shown_examples(client) -> list[str]:
    """The questions on the chat's empty page, as its buttons show them."""
    page = client.get("/toolkit")
    assert page.status_code == 200
    return [
        chunk.split("</button>")[0]
        for chunk in page.content.decode().split('<button type="button" class="example">')[1:]
    ]


def assert_each_is_answered_from_its_section(client) -> list[str]:
    """Every example on the page, asked through the JSON API, is answered and cites its section first."""
    examples = checked_examples(active_version_ids(EVERY_TOOLKIT), viewer=EVERY_TOOLKIT)
    assert shown_examples(client) == [example.question for example in examples]
    for example in examples:
        body = post(client, {"query": example.question}).json()
        assert body["answered"] is True, example.question
        first = body["citations"][0]
        assert first["heading_path"] == list(example.section.heading_path), example.question
    return [example.question for example in examples]


# --- section numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "stripped"),
    [
        ("Identifying vulnerable residents", "Identifying vulnerable residents"),
        ("Introduction", "Introduction"),
        ("IV. Budget", "Budget"),
        ("2.2 Identifying vulnerable residents", "Identifying vulnerable residents"),
        ("Vulnerable residents", "Vulnerable residents"),
        ("X-ray safety", "X-ray safety"),
        ("3) Budget", "Budget"),
        ("A.1 Contacts", "Contacts"),
        ("1 Planning", "Planning"),
        ("1. Introduction", "Introduction"),
        ("2.2. Identifying vulnerable residents", "Identifying vulnerable residents"),
        ("b) Costs", "Costs"),
        ("II – Roles", "Roles"),
        ("24 hours a day", "24 hours a day"),  # a number that is part of the title
        ("I think therefore", "I think therefore"),
    ],
)
def test_only_real_section_numbers_are_stripped(heading, stripped):
    assert strip_numbering(heading) == stripped


def test_a_heading_starting_with_a_roman_letter_keeps_it_in_the_question():
    assert (
        questions_for("2.2 Identifying vulnerable residents")[0] == "How do we identify vulnerable residents?"
    )
    assert questions_for("Introduction to X-ray safety")[0] == (
        "What does the toolkit say about the introduction to X-ray safety?"
    )


# --- wording -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "question"),
    [
        ("3.2 Recruiting and keeping volunteers", "How do we recruit and keep volunteers?"),
        ("3.1 Roles and responsibilities", "What are the roles and responsibilities?"),
        ("4.3 Budget", "What does the toolkit say about the budget?"),
        ("2.1 Mapping hazards", "How do we map hazards?"),
        ("4 Writing the emergency plan", "How do we write the emergency plan?"),
        ("5 Communicating in an emergency", "How do we communicate in an emergency?"),
        ("5.2 Working with the emergency services", "How do we work with the emergency services?"),
        ("Setting up your group", "How do we set up our group?"),
        ("Map the hazards", "How do we map the hazards?"),
        ("1.1 Who this toolkit is for", "Who is this toolkit for?"),
        ("1.2 How to use this toolkit", "How do we use this toolkit?"),
        ("What the plan should include", "What should the plan include?"),
        ("What is a hazard?", "What is a hazard?"),
        ("4.1 Activation triggers", "What are the activation triggers?"),
        ("1.2 Volunteers", "What does the toolkit say about volunteers?"),
        ("Training materials", "What does the toolkit say about training materials?"),
        (
            "Safeguarding and data protection",
            "What does the toolkit say about safeguarding and data protection?",
        ),
        ("5.1 The phone tree", "What does the toolkit say about the phone tree?"),
        ("CCTV policy", "What does the toolkit say about the CCTV policy?"),
    ],
)
def test_headings_become_questions_a_user_would_type(heading, question):
    assert questions_for(heading)[0] == question


def test_a_noun_topic_also_gets_a_short_wording_and_a_vague_heading_gets_none():
    assert questions_for("4.3 Budget") == [
        "What does the toolkit say about the budget?",
        "What about the budget?",
    ]
    assert questions_for("How to use this toolkit") == ["How do we use this toolkit?"]
    for vague in ("1 Introduction", "Appendix", "Glossary", "Why it matters", "2024", "x" * 80):
        assert questions_for(vague) == [], vague


@pytest.mark.parametrize(
    ("word", "base"),
    [
        ("recruiting", "recruit"), ("keeping", "keep"), ("identifying", "identify"), ("mapping", "map"),
        ("writing", "write"), ("communicating", "communicate"), ("evaluating", "evaluate"),
        ("making", "make"), ("using", "use"), ("managing", "manage"), ("preparing", "prepare"),
        ("involving", "involve"), ("providing", "provide"), ("handling", "handle"), ("ensuring", "ensure"),
        ("requiring", "require"), ("defining", "define"), ("organising", "organise"), ("focusing", "focus"),
        ("developing", "develop"), ("visiting", "visit"), ("monitoring", "monitor"), ("opening", "open"),
        ("travelling", "travel"), ("installing", "install"), ("adding", "add"), ("creating", "create"),
        ("treating", "treat"), ("discussing", "discuss"), ("continuing", "continue"), ("judging", "judge"),
    ],
)  # fmt: skip
def test_the_base_form_of_an_ing_verb(word, base):
    assert suggestions.base_form(word) == base


# --- checked against the index -------------------------------------------------------------


@pytest.mark.django_db
def test_every_example_shown_is_answered_from_its_own_section(owner_client):
    ingest_toolkit(WARMTH_TOOLKIT, name="Winter Warmth")
    shown = assert_each_is_answered_from_its_section(owner_client)
    assert len(shown) == 4
    assert (
        "How do we recruit and keep volunteers?" in shown
        or "What are the roles and responsibilities?" in shown
    )
    assert not any("introduction" in question.lower() for question in shown)
    chapters = {
        example.section.heading_path[0]
        for example in checked_examples(active_version_ids(EVERY_TOOLKIT), viewer=EVERY_TOOLKIT)
    }
    assert len(chapters) >= 3  # spread across the toolkit, not the first few sections


@pytest.mark.django_db
def test_the_shared_test_toolkit_shows_answered_examples(owner_client, toolkit_document):
    shown = assert_each_is_answered_from_its_section(owner_client)
    assert "What does the toolkit say about the budget?" in shown


@pytest.mark.django_db
def test_the_demo_toolkit_shows_only_answered_examples(owner_client):
    demo = REPO_ROOT / "demo" / "community-resilience-toolkit.docx"
    kit = Toolkit.objects.create(name="Community Resilience Toolkit")
    version = uploads.create_version(
        toolkit=kit, version_tag="2026.1", stream=io.BytesIO(Path(demo).read_bytes()), filename=demo.name,
        activate=True,
    )  # fmt: skip
    ingestion.ingest(version)
    shown = assert_each_is_answered_from_its_section(owner_client)
    assert len(shown) == 4
    assert not any("dentifying" in question and "Identifying" not in question for question in shown)


@pytest.mark.django_db
def test_a_question_answered_from_another_section_is_not_shown(owner_client):
    # "Volunteers" names them only in its heading; "Recruiting volunteers" also names them in its
    # text, so a question made from the first heading is answered, but from the second section.
    ingest_toolkit(
        [
            ("h1", "1 Volunteers"),
            ("p", "Everyone who helps out is thanked at the summer party in July."),
            ("h1", "2 Recruiting volunteers"),
            (
                "p",
                "Volunteers come from schools. Volunteers come from churches. Volunteers come from "
                "clubs. New volunteers shadow experienced volunteers, and volunteers meet monthly.",
            ),
            ("h1", "3 Budget"),
            ("p", "The budget is reviewed every quarter by the treasurer."),
        ],
        name="Misleading",
    )
    question = "What about volunteers?"
    assert question in questions_for("1 Volunteers")
    retrieval = retrieve(question, 5, active_version_ids(EVERY_TOOLKIT), viewer=EVERY_TOOLKIT)
    assert is_relevant(retrieval) and retrieval.chunks[0].heading_path == ["2 Recruiting volunteers"]
    answer = post(owner_client, {"query": question}).json()
    assert answer["answered"] and answer["citations"][0]["heading_path"] == ["2 Recruiting volunteers"]

    shown = assert_each_is_answered_from_its_section(owner_client)
    assert "What does the toolkit say about the budget?" in shown  # other sections pass the check
    made_from_volunteers = set(questions_for("1 Volunteers"))
    assert made_from_volunteers and not made_from_volunteers & set(shown)


@pytest.mark.django_db
def test_a_toolkit_with_nothing_worth_asking_shows_no_examples_but_is_published(owner_client):
    ingest_toolkit([("h1", "Introduction"), ("p", "Welcome."), ("h1", "Glossary"), ("p", "Words.")])
    page = owner_client.get("/toolkit").content.decode()
    assert 'class="example"' not in page
    assert "Answers come from the published toolkit" in page and "No toolkit has been published" not in page


@pytest.mark.django_db
def test_without_a_published_toolkit_the_page_says_so(owner_client):
    page = owner_client.get("/toolkit").content.decode()
    assert "No toolkit has been published yet" in page and 'class="example"' not in page


# --- cost: cached until the active versions or the gate change -----------------------------


@pytest.fixture
def retrievals(monkeypatch) -> list[str]:
    """The questions the example check retrieves for (the real retrieval still runs)."""
    asked: list[str] = []

    def counting(question, *args, **kwargs):
        asked.append(question)
        return retrieve(question, *args, **kwargs)

    monkeypatch.setattr(suggestions, "retrieve", counting)
    return asked


@pytest.mark.django_db
def test_examples_are_checked_once_then_served_from_the_cache(owner_client, toolkit_document, retrievals):
    first = shown_examples(owner_client)
    assert first and retrievals
    checked = len(retrievals)
    assert checked <= suggestions.MAX_CHECKS
    assert shown_examples(owner_client) == first
    assert shown_examples(owner_client) == first
    assert len(retrievals) == checked  # no retrieval on later page loads


@pytest.mark.django_db
def test_a_new_active_version_is_checked_again(owner_client, retrievals):
    ingest_toolkit(version="v1")
    before = shown_examples(owner_client)
    assert "What does the toolkit say about the budget?" in before
    checked = len(retrievals)

    ingest_toolkit(WARMTH_TOOLKIT, version="v2")  # the same toolkit, activated when ready
    assert ToolkitVersion.objects.get(version_tag="v2").is_active
    after = shown_examples(owner_client)
    assert len(retrievals) > checked
    assert after and after != before
    assert "What about emergencies?" not in after  # v1's sections are gone with v1
    assert_each_is_answered_from_its_section(owner_client)


@pytest.mark.django_db
def test_a_changed_gate_setting_is_checked_again(owner_client, toolkit_document, retrievals, settings):
    shown_examples(owner_client)
    for name, value in [("RAG_MIN_SUPPORT", 0.5), ("RAG_MIN_HYBRID_SUPPORT", 1.7)]:
        checked = len(retrievals)
        setattr(settings, name, value)
        shown_examples(owner_client)
        assert len(retrievals) > checked, name
        shown_examples(owner_client)


# --- failures: no examples, never an error page --------------------------------------------


@pytest.mark.django_db
def test_an_embedding_server_that_is_down_shows_no_examples_and_logs_a_warning(
    owner_client, toolkit_document, settings, caplog, retrievals
):
    settings.EMBEDDING_BACKEND = "openai"
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens: connection refused
    settings.EMBEDDING_MAX_RETRIES = 0
    settings.EMBEDDING_TIMEOUT = 2.0
    with caplog.at_level(logging.WARNING, logger="rag.suggestions"):
        page = owner_client.get("/toolkit")
    assert page.status_code == 200
    assert 'class="example"' not in page.content.decode()
    assert "Answers come from the published toolkit" in page.content.decode()
    assert any(r.name == "rag.suggestions" and "none are shown" in r.getMessage() for r in caplog.records)
    checked = len(retrievals)
    assert checked == 1  # the first failure stops the check
    owner_client.get("/toolkit")
    assert len(retrievals) == checked  # and is remembered for a while, not retried on every load


@pytest.mark.django_db
def test_an_error_while_checking_shows_no_examples(owner_client, toolkit_document, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("search is broken")

    monkeypatch.setattr(suggestions, "retrieve", broken)
    with caplog.at_level(logging.WARNING, logger="rag.suggestions"):
        assert example_questions(EVERY_TOOLKIT) == []
    assert "search is broken" in caplog.text
    assert owner_client.get("/toolkit").status_code == 200

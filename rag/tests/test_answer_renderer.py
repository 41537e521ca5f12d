"""One answer renderer: the streamed answer's final HTML is the history's HTML; citations store chunk
ids and get their URLs when shown; no URL or status label is written into the page scripts."""

import importlib
import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from rag.models import Message
from rag.templatetags.citations import with_citation_links
from toolkitrag.testing.toolkits import ingest_toolkit

pytestmark = pytest.mark.django_db

STATIC = Path(settings.BASE_DIR) / "static"
QUESTION = "How often is the budget <b>reviewed</b>?"


def stream(client, body: dict) -> dict[str, dict]:
    response = client.post(
        reverse("api-answer-stream"), data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 200
    raw = b"".join(response.streaming_content).decode()
    events = {}
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.setdefault(lines["event"], json.loads(lines["data"]))
    return events


def history_article(client, conversation_id: int, message_id: int) -> str:
    page = client.get(reverse("conversation", args=[conversation_id])).content.decode()
    found = re.search(rf'<article class="exchange" data-message-id="{message_id}".*?</article>', page, re.S)
    assert found, page
    return found.group(0)


def test_the_final_event_carries_the_answer_exactly_as_the_history_renders_it(owner_client, toolkit_document):
    events = stream(owner_client, {"query": QUESTION})
    final = events["final"]
    html = final["html"].strip()
    assert html == history_article(owner_client, final["conversation_id"], final["message_id"])
    chunk_id = final["citations"][0]["chunk_id"]
    assert f'<a class="cite" href="/toolkit/source/{chunk_id}#passage" data-n="1">[1]</a>' in html
    assert f'href="/strategies/add-answer/{final["message_id"]}"' in html  # "Add to plan"
    assert "How often is the budget &lt;b&gt;reviewed&lt;/b&gt;?" in html  # escaped by the template
    assert events["start"]["conversation_url"] == f"/toolkit/c/{final['conversation_id']}"
    assert events["start"]["conversation_api_url"] == f"/api/rag/conversations/{final['conversation_id']}"


def test_a_failed_answer_shows_the_sections_found_in_its_html(owner_client, fake_openai, settings):
    ingest_toolkit()
    settings.CHAT_MAX_RETRIES = 0
    fake_openai.script = [{}, {"status": 500}]  # the first request embeds the question
    final = stream(owner_client, {"query": "How often is the budget reviewed?"})["final"]
    assert final["error"] and final["sources"]
    assert 'role="alert"' in final["html"] and "Sections found for your question:" in final["html"]
    source = final["sources"][0]
    assert source["url"] == f"/toolkit/source/{source['chunk_id']}#passage"
    assert f'href="/toolkit/source/{source["chunk_id"]}#passage"' in final["html"]
    assert "add-to-plan" not in final["html"]  # nothing answered, nothing to plan


def test_citations_are_stored_without_urls_and_shown_with_built_ones(owner_client, toolkit_document):
    answer = owner_client.post(
        reverse("api-answer"),
        data={"query": "How often is the budget reviewed?"},
        content_type="application/json",
    ).json()
    stored = Message.objects.get(pk=answer["message_id"]).citations
    assert stored and all("url" not in c and isinstance(c["chunk_id"], int) for c in stored)
    for shown in (
        answer["citations"],
        owner_client.get(reverse("api-conversation", args=[answer["conversation_id"]])).json()["messages"][0][
            "citations"
        ],
    ):
        assert [c["url"] for c in shown] == [
            reverse("toolkit-source", args=[c["chunk_id"]]) + "#passage" for c in stored
        ]


def test_only_numbers_that_match_a_citation_become_links_and_text_stays_escaped():
    html = with_citation_links("<i>a</i> [1] and [2] and [1000]", [{"n": 1, "chunk_id": 7}])
    link = '<a class="cite" href="/toolkit/source/7#passage" data-n="1">[1]</a>'
    assert html == f"<p>&lt;i&gt;a&lt;/i&gt; {link} and [2] and [1000]</p>"


def test_the_data_migration_drops_stored_urls_and_can_put_them_back(owner):
    migration = importlib.import_module("rag.migrations.0003_citations_store_chunk_ids_only")
    old = [
        {"n": 1, "chunk_id": 11, "toolkit": "Kit", "snippet": "a", "url": "/toolkit/source/11"},
        {"n": 3, "chunk_id": 12, "toolkit": "Kit", "snippet": "b", "url": "/toolkit/source/12"},
    ]
    conversation = owner.conversations.create(title="t")
    legacy = Message.objects.create(conversation=conversation, user=owner, query="q", citations=old)
    empty = Message.objects.create(conversation=conversation, user=owner, query="q", citations=[])
    with connection.cursor() as cursor:
        cursor.execute(migration.FORWARD)
    legacy.refresh_from_db()
    empty.refresh_from_db()
    assert legacy.citations == [{k: v for k, v in c.items() if k != "url"} for c in old]  # order kept
    assert empty.citations == []
    with connection.cursor() as cursor:
        cursor.execute(migration.BACKWARD)
    legacy.refresh_from_db()
    assert legacy.citations == old


def test_page_scripts_hold_no_paths_and_no_answer_markup():
    scripts = {path.name: path.read_text() for path in STATIC.rglob("*.js")}
    assert {"chat.js", "admin_progress.js"} <= scripts.keys()
    for name, text in scripts.items():
        literals = re.findall(r"""["'](/[a-z][^"']*)["']""", text)
        assert literals == [], (name, literals)  # URLs come from data- attributes and the server
    chat = scripts["chat.js"]
    assert 'createElement("a")' not in chat and "\\[(\\d" not in chat  # no citation links built in JS
    assert "Pending" not in scripts["admin_progress.js"]  # status labels come from the server

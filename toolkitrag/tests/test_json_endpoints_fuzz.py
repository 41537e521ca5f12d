"""Property-based tests of every JSON endpoint (chat, conversations, feedback, plans, items):
arbitrary JSON, odd unicode, nulls, wrong types, huge and deeply nested bodies → a 2xx, or a
4xx with a JSON error; never a 5xx. Text PostgreSQL cannot store (NUL, lone surrogates), in a
body or a query string, is always a 400 (issue 18: both were 500s)."""

import json
from urllib.parse import quote

import pytest
from django.http import QueryDict
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.models import Message
from strategies.models import PlanItem, StrategyPlan
from toolkitrag.testing.toolkits import ingest_toolkit

pytestmark = pytest.mark.django_db

EXAMPLES = 60  # per endpoint, each run; bench/ is not needed: the suite runs these every time

# Text that breaks naive code: NUL and lone surrogates (json.dumps writes them as \u0000 and
# \ud800, valid JSON that PostgreSQL cannot store), control characters, right-to-left marks,
# zero-width joiners, combining marks, emoji, very long words.
UNSTORABLE = ["\x00", "\ud800", "\udfff", "\udc00"]
odd_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from([*UNSTORABLE, "\u202e", "\u200d", "\u0301", "\U0001f600", "\ufeff"]),
    max_size=300,
) | st.sampled_from(["<script>alert(1)</script>", "'; DROP TABLE x; --", "2024-02-30", "up", "down", "goal"])
numbers = st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False) | st.booleans()
scalars = st.none() | numbers | odd_text
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(odd_text, children, max_size=5),
    max_leaves=20,
)
FIELDS = [
    "query",
    "top_k",
    "conversation_id",
    "rating",
    "comment",
    "title",
    "summary",
    "status",
    "kind",
    "text",
    "owner_name",
    "due_date",
    "chunk_ids",
    "message_id",
    "item_ids",
]
# Objects with the endpoints' own field names, so values reach the validation behind the shape check.
plausible_objects = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)
bodies = st.one_of(
    json_values.map(json.dumps),
    plausible_objects.map(json.dumps),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),  # not JSON at all
)


@pytest.fixture
def world(owner, second_user):
    """The owner's conversation, message, plan and item; the client logged in as the owner."""
    ingest_toolkit()
    client = Client()
    client.force_login(owner)
    answer = client.post(
        "/api/rag/answer",
        json.dumps({"query": "How often is the budget reviewed?"}),
        content_type="application/json",
    ).json()
    message = Message.objects.get(pk=answer["message_id"])
    plan = StrategyPlan.objects.create(owner=owner, title="Plan")
    item = PlanItem.objects.create(plan=plan, position=1, kind="goal", text="Goal")
    return {"client": client, "message": message, "plan": plan, "item": item}


def endpoints(world) -> list[tuple[str, str]]:
    m, p, i = world["message"], world["plan"], world["item"]
    return [
        ("POST", "/api/rag/answer"),
        ("POST", "/api/rag/answer/stream"),
        ("PATCH", f"/api/rag/conversations/{m.conversation_id}"),
        ("POST", f"/api/rag/messages/{m.pk}/feedback"),
        ("POST", "/api/plans/"),
        ("PATCH", f"/api/plans/{p.pk}/"),
        ("PUT", f"/api/plans/{p.pk}/"),
        ("POST", f"/api/plans/{p.pk}/items/"),
        ("PATCH", f"/api/plans/{p.pk}/items/{i.pk}/"),
        ("PUT", f"/api/plans/{p.pk}/items/{i.pk}/"),
        ("POST", f"/api/plans/{p.pk}/items/order"),
    ]


def send(client: Client, method: str, url: str, body: str | bytes, content_type="application/json"):
    response = getattr(client, method.lower())(url, body, content_type=content_type)
    if response.streaming:
        b"".join(response.streaming_content)  # run the whole answer: its errors count too
    return response


def assert_clean(response, method: str, url: str, body) -> None:
    assert response.status_code < 500, (method, url, body[:300], response.content[:500])
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/json", (method, url, response.content[:200])
        assert isinstance(json.loads(response.content)["error"], str)


@pytest.mark.parametrize("index", range(11), ids=lambda i: f"endpoint{i}")
def test_arbitrary_bodies_never_cause_a_server_error(world, index):
    method, url = endpoints(world)[index]
    client = world["client"]

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(body=bodies)
    def check(body):
        assert_clean(send(client, method, url, body), method, url, body)

    check()


@pytest.mark.parametrize("index", range(11), ids=lambda i: f"endpoint{i}")
def test_huge_deep_and_mislabelled_bodies_get_a_json_4xx(world, index):
    method, url = endpoints(world)[index]
    client = world["client"]
    hostile = [
        "[" * 100_000 + "]" * 100_000,  # nesting beyond the JSON parser's recursion limit
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        json.dumps({"query": "x" * 3_000_000}),  # over DATA_UPLOAD_MAX_MEMORY_SIZE
        json.dumps({"comment": "\x00" * 10, "title": "\x00", "text": "\x00", "query": "budget\x00"}),
        "\xff\xfe not utf-8".encode("latin-1"),
    ]
    for body in hostile:
        assert_clean(send(client, method, url, body), method, url, body)
    response = send(client, method, url, "query=x", content_type="application/x-www-form-urlencoded")
    assert_clean(response, method, url, "form")


def has_unstorable_text(value) -> bool:
    if isinstance(value, str):
        return any(bad in value for bad in UNSTORABLE)
    if isinstance(value, dict):
        return any(has_unstorable_text(k) or has_unstorable_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_unstorable_text(v) for v in value)
    return False


@st.composite
def with_unstorable_text(draw):
    """A body with NUL or a lone surrogate somewhere: a value, a nested value or a field name."""
    body = draw(plausible_objects)
    bad = draw(st.text(max_size=5)) + draw(st.sampled_from(UNSTORABLE)) + draw(st.text(max_size=5))
    where = draw(st.sampled_from(["value", "nested", "name"]))
    field = draw(st.sampled_from(FIELDS))
    if where == "value":
        body[field] = bad
    elif where == "nested":
        body[field] = [1, {"x": [bad]}]
    else:
        body[bad] = "x"
    return body


@pytest.fixture
def no_question_limit(request):
    """Every example must reach the body check, not stop at the 20-questions-a-minute limit."""
    request.getfixturevalue("settings").RATE_LIMIT_RAG_REQUESTS = 1_000_000


@pytest.mark.parametrize("index", range(11), ids=lambda i: f"endpoint{i}")
def test_unstorable_text_anywhere_in_a_body_is_a_400(world, index, no_question_limit):
    method, url = endpoints(world)[index]
    client = world["client"]

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(body=with_unstorable_text())
    def check(body):
        assert has_unstorable_text(body)
        text = json.dumps(body)
        response = send(client, method, url, text)
        assert response.status_code == 400, (method, url, text[:300], response.content[:300])
        error = response.json()["error"]
        assert "NUL" in error or "lone surrogate" in error, (method, url, text[:300], error)

    check()


GET_URLS = [
    lambda w: "/api/plans/",
    lambda w: "/api/rag/conversations",
    lambda w: f"/api/rag/conversations/{w['message'].conversation_id}",
    lambda w: f"/api/plans/{w['plan'].pk}/",
    lambda w: f"/api/plans/{w['plan'].pk}/items/",
    lambda w: f"/api/plans/{w['plan'].pk}/items/{w['item'].pk}/",
    lambda w: "/strategies",
]
# Raw query strings: percent-encoded NULs, surrogates encoded as UTF-8 bytes (not valid UTF-8),
# stray percent signs, repeated and empty keys.
query_strings = st.lists(
    st.tuples(st.sampled_from(["q", "status", "page", "x", ""]), odd_text),
    max_size=4,
).map(
    lambda pairs: "&".join(f"{quote(k)}={quote(v, errors='surrogatepass')}" for k, v in pairs)
) | st.sampled_from(
    ["q=%00", "q=%ED%A0%80", "q=%", "q=%zz", "%00=1", "q=%C0%80", "status=%00&q=x", "page=%00"]
)


def has_nul(url: str, query: str) -> bool:
    """The API refuses a NUL anywhere in the query string; the page in the fields its form reads."""
    params = QueryDict(query)
    if url.startswith("/api/"):
        return any("\x00" in key or "\x00" in "".join(params.getlist(key)) for key in params)
    return "\x00" in params.get("q", "") + params.get("status", "")


@pytest.mark.parametrize("index", range(len(GET_URLS)), ids=lambda i: f"get{i}")
def test_query_strings_never_cause_a_server_error(world, index):
    url = GET_URLS[index](world)
    client = world["client"]

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(query=query_strings)
    def check(query):
        response = client.get(f"{url}?{query}")
        assert response.status_code < 500, (url, query, response.content[:300])
        if has_nul(url, query):  # a 400, as JSON from the API, as the page with its form's error
            assert response.status_code == 400, (url, query)
        if url.startswith("/api/") and response.status_code >= 400:
            assert isinstance(response.json()["error"], str)

    check()

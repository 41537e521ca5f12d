"""A script's view of the API: curl with a Bearer token against the app under gunicorn, with the
rate-limit counters in Redis as in production."""

import json
import subprocess
import uuid

import pytest

from accounts.api_tokens import issue_token
from toolkitrag.testing.servers import REDIS_URL, child_database_url, redis_available
from toolkitrag.testing.toolkits import ingest_toolkit

NO_REDIS = f"needs a Redis server at {REDIS_URL} (none is reachable)"
pytestmark = [
    pytest.mark.system,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not redis_available(), reason=f"needs a Redis server at {REDIS_URL} (none is reachable)"
    ),
]


def curl(url: str, *args: str) -> tuple[int, dict, dict]:
    """(status, headers, JSON body) of one curl call, as the README shows it."""
    done = subprocess.run(
        ["curl", "--silent", "--show-error", "--include", "--max-time", "30", *args, url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    head, _, body = done.stdout.replace("\r\n", "\n").partition("\n\n")
    status_line, *header_lines = head.split("\n")
    headers = {
        name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)
    }
    return int(status_line.split()[1]), headers, json.loads(body)


def test_curl_asks_a_question_with_a_token_and_meets_the_per_user_limit(start_app_server, owner, rate_window):
    ingest_toolkit()
    _, plaintext = issue_token(owner, "curl")
    app = start_app_server(
        {"DATABASE_URL": child_database_url(), "CACHE_URL": REDIS_URL,
         "CACHE_KEY_PREFIX": f"test-{uuid.uuid4().hex}",  # a fresh set of counters for this run
         "EMBEDDING_BACKEND": "none", "CHAT_BACKEND": "none", "RATE_LIMIT_RAG_REQUESTS": "2"}
    )  # fmt: skip
    auth = ["-H", f"Authorization: Bearer {plaintext}"]
    ask = [
        *auth,
        "-H",
        "Content-Type: application/json",
        "--data",
        '{"query": "How often is the budget reviewed?"}',
    ]

    rate_window(f"user:{owner.pk}", need=15)
    status, _, answer = curl(app.url + "/api/rag/answer", *ask)  # no cookie, no CSRF token
    assert status == 200, answer
    assert answer["message_id"] and answer["answer"]
    status, _, listed = curl(app.url + "/api/rag/conversations", *auth)
    assert status == 200 and [c["id"] for c in listed["conversations"]] == [answer["conversation_id"]]
    assert curl(app.url + "/api/rag/answer", *ask)[0] == 200
    status, headers, limited = curl(app.url + "/api/rag/answer", *ask)
    assert status == 429 and int(headers["retry-after"]) >= 1, limited

    status, headers, refused = curl(app.url + "/api/rag/answer", "-H", "Authorization: Bearer tkr_nope")
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert "malformed" in refused["error"]
    log = [json.loads(line) for line in app.log().splitlines() if line.startswith("{")]
    answers = [line for line in log if line.get("path") == "/api/rag/answer" and line.get("status") == 200]
    assert answers and all(line["user_id"] == owner.pk for line in answers)  # logged as the token's user
    assert plaintext not in app.log()  # the request log never holds the token

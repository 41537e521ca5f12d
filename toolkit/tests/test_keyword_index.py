"""The keyword index (tantivy, per version) picks BM25's candidates; PostgreSQL stays the record:
an index missing or broken never stops an answer, and it is rebuilt."""

import json
import logging

import pytest
from django.core.management import call_command
from django.db import connection

from rag.retrieval import retrieve
from toolkit import keyword_index, search
from toolkit.access import EVERY_TOOLKIT
from toolkit.models import Toolkit, ToolkitVersion
from toolkitrag.testing.toolkits import TOOLKIT, ingest_toolkit

pytestmark = pytest.mark.django_db


def top_chunks(query: str, version_ids=None, limit: int = 10) -> list[int]:
    candidates = keyword_index.candidates(query, version_ids, viewer=EVERY_TOOLKIT)
    return [
        hit.chunk_id
        for hit in search.keyword_search(query, version_ids, limit, candidates, viewer=EVERY_TOOLKIT)
    ]


def exhaustive_top_chunks(query: str, version_ids=None, limit: int = 10) -> list[int]:
    return [
        hit.chunk_id
        for hit in search.keyword_search(query, version_ids, limit, exhaustive=True, viewer=EVERY_TOOLKIT)
    ]


def test_ingestion_builds_the_index_and_deleting_the_version_deletes_it(toolkit_document):
    folder = keyword_index.index_path(toolkit_document.pk)
    metadata = json.loads((folder / keyword_index.METADATA).read_text())
    assert metadata["chunks"] == toolkit_document.chunk_count > 0
    candidates = keyword_index.candidates("How often is the budget reviewed?", None, viewer=EVERY_TOOLKIT)
    assert candidates.unindexed_version_ids == [] and len(candidates.chunk_ids) >= 1

    toolkit_document.toolkit.delete()  # the versions go with their toolkit
    assert not folder.exists()


def test_the_index_holds_postgresqls_lexemes_with_heading_terms_boosted(toolkit_document):
    searcher, problem = keyword_index._check(
        toolkit_document.pk, keyword_index._fingerprint(toolkit_document.pk)
    )
    assert problem == ""
    assert searcher.doc_freq("terms", "budget") == 1  # stemmed and lowercased by PostgreSQL
    assert searcher.doc_freq("terms", "Budget") == 0 and searcher.doc_freq("terms", "reviewed") == 0
    assert searcher.doc_freq("terms", "review") == 1


@pytest.mark.parametrize("damage", ["missing", "corrupt", "other settings"])
def test_a_broken_index_still_answers_warns_and_is_rebuilt(toolkit_document, client, caplog, damage):
    folder = keyword_index.index_path(toolkit_document.pk)
    if damage == "missing":
        keyword_index.delete(toolkit_document.pk)
    elif damage == "corrupt":
        for path in folder.iterdir():
            if path.suffix in (".term", ".idx", ".fast"):
                path.write_bytes(b"\0" * 7)
    else:
        metadata = json.loads((folder / keyword_index.METADATA).read_text())
        (folder / keyword_index.METADATA).write_text(json.dumps({**metadata, "settings": "0" * 16}))
    expected = {"missing": "is missing", "corrupt": "is corrupt", "other settings": "is out of date"}[damage]

    # /ready finds it first, and queues the rebuild (run at once by the tests' immediate backend)
    with caplog.at_level(logging.WARNING, logger="toolkit.keyword_index"):
        body = client.get("/ready").json()
    assert body["status"] == "ok"
    assert any(expected in warning and "SQL path" in warning for warning in body["warnings"]), body
    assert expected in caplog.text
    assert client.get("/ready").json() == {"status": "ok"}  # rebuilt

    # a question asked while it is broken is answered by the SQL path
    keyword_index.delete(toolkit_document.pk)
    result = retrieve("How often is the budget reviewed?", top_k=3, viewer=EVERY_TOOLKIT)
    assert result.chunks[0].heading == "1 Planning > 1.1 Budget"
    assert (folder / keyword_index.METADATA).exists()  # and the rebuild it queued has run


def test_an_index_of_rewritten_chunks_is_out_of_date_not_used(toolkit_document, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}  # queued, not run
    keyword_index.build(toolkit_document.pk)
    toolkit_document.chunks.filter(ordinal=0).delete()  # the version's chunks changed behind its back
    ToolkitVersion.objects.filter(pk=toolkit_document.pk).update(chunk_count=3)

    candidates = keyword_index.candidates("budget", None, viewer=EVERY_TOOLKIT)
    assert candidates.unindexed_version_ids == [toolkit_document.pk]
    assert "rewritten since it was built" in keyword_index.problems()[0]
    assert top_chunks("budget reviewed") == exhaustive_top_chunks("budget reviewed")


def test_renaming_the_toolkit_makes_its_index_out_of_date_until_rebuilt(toolkit_document, settings):
    from toolkit.ingestion import retitle_chunks

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}  # queued, not run
    Toolkit.objects.filter(pk=toolkit_document.toolkit_id).update(name="Quillwort Handbook")
    retitle_chunks(ToolkitVersion.objects.get(pk=toolkit_document.pk))  # the chunks' title, in place

    assert keyword_index.candidates("quillwort", None, viewer=EVERY_TOOLKIT).unindexed_version_ids == [
        toolkit_document.pk
    ]
    assert top_chunks("quillwort") == exhaustive_top_chunks("quillwort") != []
    keyword_index.build(toolkit_document.pk)
    assert keyword_index.candidates("quillwort", None, viewer=EVERY_TOOLKIT).unindexed_version_ids == []
    assert top_chunks("quillwort") == exhaustive_top_chunks("quillwort")


def test_reindex_keyword_only_rebuilds_and_removes_indexes_of_deleted_versions(toolkit_document, capsys):
    keyword_index.delete(toolkit_document.pk)
    orphan = keyword_index.index_path(toolkit_document.pk + 1000)
    orphan.mkdir(parents=True)

    call_command("reindex", "--keyword-only", "--all")
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        "Rebuilt the keyword index of 1 of 1 version(s); removed 1 of deleted versions."
    )
    assert keyword_index.problems() == [] and not orphan.exists()
    call_command("reindex", "--keyword-only", "--version", str(toolkit_document.pk))  # safe to re-run
    assert "Rebuilt the keyword index of 1 of 1 version(s)." in capsys.readouterr().out


def test_each_version_in_scope_gives_its_candidates(toolkit_document):
    newer = [(kind, text.replace("quarter", "month")) for kind, text in TOOLKIT]
    v2 = ingest_toolkit(newer, version="v2", activate=False)
    both = [toolkit_document.pk, v2.pk]
    assert len(keyword_index.candidates("budget", both, viewer=EVERY_TOOLKIT).chunk_ids) == 2
    assert top_chunks("budget month", both) == exhaustive_top_chunks("budget month", both)


SYNTHETIC_CHUNKS = """
INSERT INTO toolkit_chunks (document_id, ordinal, heading_path, heading, text, token_count, block_start,
                            block_end, content_hash)
SELECT %(version)s, i, ARRAY[h], h, t, 40, i, i, md5(i::text)
FROM generate_series(0, %(size)s - 1) AS i
CROSS JOIN LATERAL (
    SELECT (SELECT string_agg('w' || floor(power(random(), 3) * 3000)::int, ' ')
            FROM generate_series(1, 3) WHERE i >= 0) AS h,
           (SELECT string_agg('w' || floor(power(random(), 3) * 3000)::int, ' ')
            FROM generate_series(1, 40) WHERE i >= 0) AS t
) AS generated
"""


def synthetic_version(size: int) -> ToolkitVersion:
    """A ready, active version of `size` chunks of Zipf-distributed words, the same every run."""
    version = ToolkitVersion.objects.create(
        toolkit=Toolkit.objects.create(name="Synthetic"), version_tag="s", sha256="-", status="ready"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(SYNTHETIC_CHUNKS, {"version": version.pk, "size": size})
    search.record_term_statistics(version)
    version.save(update_fields=["chunk_count", "term_total"])
    version.activate()
    keyword_index.build(version.pk)
    return version


def test_the_keyword_top_k_equals_exhaustive_bm25(settings):
    """With fewer candidates than chunks matching a common word, the top 10 is still BM25's own."""
    settings.KEYWORD_CANDIDATES = 50
    synthetic_version(3000)
    questions = ["w1 w7", "w0 w250 w1900", "w3 w4 w5 w6", "w12 w2999", "w0", "w2 w31 w400 w1000 w77"]
    for question in questions:
        candidates = keyword_index.candidates(question, None, viewer=EVERY_TOOLKIT)
        assert candidates.unindexed_version_ids == [] and len(candidates.chunk_ids) == 50
        assert top_chunks(question) == exhaustive_top_chunks(question), question


# A process serving questions as a gunicorn worker would: one line in (a question), one line out.
SERVING_PROCESS = """
import json, sys
import django
django.setup()
from toolkit import keyword_index, search
from toolkit.models import ToolkitVersion
from toolkit.access import EVERY_TOOLKIT
for question in sys.stdin:
    candidates = keyword_index.candidates(question, None, viewer=EVERY_TOOLKIT)
    hits = search.keyword_search(question, None, 3, candidates, viewer=EVERY_TOOLKIT)
    tags = ToolkitVersion.objects.filter(chunks__in=[hit.chunk_id for hit in hits]).values_list("version_tag")
    unindexed = candidates.unindexed_version_ids
    print(json.dumps({"versions": sorted({tag for tag, in tags}), "unindexed": unindexed}))
    sys.stdout.flush()
"""


@pytest.mark.system  # starts processes
@pytest.mark.django_db(transaction=True)
def test_two_processes_serve_from_the_same_index_while_a_new_version_is_activated(keyword_index_dir):
    import os
    import subprocess
    import sys

    from toolkitrag.testing import REPO_ROOT
    from toolkitrag.testing.servers import child_database_url

    v1 = ingest_toolkit()
    env = {k: v for k, v in os.environ.items() if k not in ("ENV", "DEBUG")}
    env.update(
        DATABASE_URL=child_database_url(),
        KEYWORD_INDEX_DIR=str(keyword_index_dir),
        DJANGO_SETTINGS_MODULE="toolkitrag.settings",
        LOG_LEVEL="WARNING",
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", SERVING_PROCESS],
            cwd=REPO_ROOT,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for _ in range(2)
    ]

    def ask(question: str = "How often is the budget reviewed?") -> list[dict]:
        answers = []
        for worker in workers:
            worker.stdin.write(question + "\n")
            worker.stdin.flush()
            line = worker.stdout.readline()
            assert line, worker.stderr.read()
            answers.append(json.loads(line))
        return answers

    try:
        assert ask() == [{"versions": ["v1"], "unindexed": []}] * 2
        newer = [(kind, text.replace("quarter", "month")) for kind, text in TOOLKIT]
        v2 = ingest_toolkit(newer, version="v2")  # activated when ready, with its index already built
        from_v2 = [{"versions": ["v2"], "unindexed": []}] * 2
        assert ask("How often is the budget reviewed? every month") == from_v2
        keyword_index.build(v2.pk)  # rebuilt under the processes' feet: they open the new folder
        v1.delete()
        assert ask("budget month") == from_v2
    finally:
        for worker in workers:
            worker.stdin.close()
            worker.wait(30)
    assert all("keyword index" not in worker.stderr.read() for worker in workers)  # no fallback, no warning

"""/ready warns when questions and stored vectors come from different models, or the local model
cannot load; it stays 200 (keyword search still answers)."""

import io
import os
import subprocess
import sys

import pytest
from django.core.management import call_command

from toolkitrag.testing import REPO_ROOT
from toolkitrag.testing.toolkits import ingest_toolkit


@pytest.mark.django_db
def test_versions_embedded_with_another_model_are_named_until_reindexed(client, settings, local_embeddings):
    settings.EMBEDDING_BACKEND = "none"  # ingested keyword-only, as before local was the default
    ingest_toolkit()
    assert client.get("/ready").json() == {"status": "ok"}

    settings.EMBEDDING_BACKEND = "local"
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["warnings"] == [
        "1 active toolkit version(s) have no vectors from all-MiniLM-L6-v2-int8 (384d), the model "
        "questions are embedded with: run `manage.py reindex --all --embeddings-only`"
    ]
    call_command("reindex", "--all", "--embeddings-only", stdout=io.StringIO())
    assert client.get("/ready").json() == {"status": "ok"}


def test_a_local_model_that_cannot_load_is_a_warning_saying_why():
    script = (
        "import sys\nsys.modules['onnxruntime'] = None\n"
        "import django\ndjango.setup()\n"
        "from toolkitrag.readiness import readiness_warnings\n"
        "print(readiness_warnings())\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "toolkitrag.settings", "EMBEDDING_BACKEND": "local"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "local embedding model unavailable, search is keyword-only: " in result.stdout
    assert "needs onnxruntime (pip install -r requirements.txt)" in result.stdout

from django.conf import settings
from django.db import migrations


def create_index(apps, schema_editor):
    from toolkit.vector_index import ensure_index

    ensure_index(settings.EMBEDDING_DIMENSIONS, using=schema_editor.connection)


def drop_index(apps, schema_editor):
    from toolkit.vector_index import drop_indexes

    drop_indexes(using=schema_editor.connection)


class Migration(migrations.Migration):
    """HNSW index on chunk embeddings for the configured dimension (see toolkit/vector_index.py)."""

    dependencies = [("toolkit", "0002_documents_and_chunks")]
    operations = [migrations.RunPython(create_index, drop_index)]

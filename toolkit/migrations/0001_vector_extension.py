from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """Enable pgvector; chunk embeddings (toolkit.Chunk) need it. Needs a superuser once."""

    initial = True
    dependencies = []
    operations = [VectorExtension()]

"""Toolkits have a language, and each chunk's keyword index is built with it: `search_config`
(PostgreSQL's regconfig, a type to_tsvector can use in a generated column) on the chunk, filled
with 'english' for existing chunks, which keeps their vectors and BM25 statistics as they were.

A generated column's expression cannot be altered in place, so search_vector (and its GIN index)
is dropped and added again: PostgreSQL computes it once per row (one rewrite of toolkit_chunks).
"""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations, models

import toolkit.models


class Migration(migrations.Migration):
    dependencies = [
        ("toolkit", "0009_chunk_title"),
    ]

    operations = [
        migrations.AddField(
            model_name="toolkit",
            name="language",
            field=models.CharField(
                choices=toolkit.models.LANGUAGES,
                default="english",
                help_text="The language the toolkit is written in: keyword search stems its words and "
                "leaves out its stop words. Changing it re-indexes every version at once.",
                max_length=20,
            ),
        ),
        migrations.RemoveIndex(model_name="chunk", name="toolkit_chunks_search_gin"),
        migrations.RemoveField(model_name="chunk", name="search_vector"),
        migrations.AddField(
            model_name="chunk",
            name="search_config",
            field=toolkit.models.RegConfigField(default="english", db_default="english", max_length=20),
        ),
        migrations.AddField(
            model_name="chunk",
            name="search_vector",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.contrib.postgres.search.SearchVector(
                    "heading", config=models.F("search_config"), weight="A"
                )
                + django.contrib.postgres.search.SearchVector(
                    "text", config=models.F("search_config"), weight="B"
                )
                + django.contrib.postgres.search.SearchVector(
                    "title", config=models.F("search_config"), weight="C"
                ),
                output_field=django.contrib.postgres.search.SearchVectorField(),
            ),
        ),
        migrations.AddIndex(
            model_name="chunk",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["search_vector"], name="toolkit_chunks_search_gin"
            ),
        ),
    ]

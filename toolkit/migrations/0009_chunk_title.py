"""Chunks carry their toolkit's name (and their version's title when it differs) in the keyword
index: a `title` column, filled here for existing chunks, and a search_vector that includes it.

A generated column's expression cannot be altered in place, so search_vector (and its GIN index)
is dropped and added again after the titles are filled: PostgreSQL computes it once per row.
BM25's statistics (toolkit_term_stats, chunk_count, term_total) are then recomputed for every
version from the new vectors, as toolkit.search.record_term_statistics would. One transaction;
it rewrites toolkit_chunks, so on a large install expect it to take a while.
"""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations, models

# toolkit.ingestion.chunk_title's rule: the toolkit's name, and the version's title unless it is
# that name or the version's first heading.
FILL_TITLES = """
UPDATE toolkit_chunks c SET title = v.title
FROM (
    SELECT d.id, t.name || CASE WHEN d.title NOT IN ('', t.name) AND d.title IS DISTINCT FROM (
        SELECT f.heading_path[1] FROM toolkit_chunks f
        WHERE f.document_id = d.id AND cardinality(f.heading_path) > 0 ORDER BY f.ordinal LIMIT 1
    ) THEN E'\\n' || d.title ELSE '' END AS title
    FROM toolkit_documents d JOIN toolkits t ON t.id = d.toolkit_id
) v
WHERE v.id = c.document_id
"""

TERM_STATISTICS = """
UPDATE toolkit_documents d SET
    chunk_count = (SELECT count(*) FROM toolkit_chunks c WHERE c.document_id = d.id),
    term_total = (SELECT coalesce(sum(length(c.search_vector)), 0) FROM toolkit_chunks c WHERE c.document_id = d.id);
DELETE FROM toolkit_term_stats;
INSERT INTO toolkit_term_stats (document_id, term, chunk_count)
SELECT c.document_id, t.lexeme, count(*)
FROM toolkit_chunks c CROSS JOIN LATERAL unnest(c.search_vector) AS t
GROUP BY c.document_id, t.lexeme;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("toolkit", "0008_rename_document_toolkitversion"),
    ]

    operations = [
        # Undoing this migration ends here: statistics of the vectors without titles.
        migrations.RunSQL(migrations.RunSQL.noop, reverse_sql=TERM_STATISTICS),
        migrations.RemoveIndex(model_name="chunk", name="toolkit_chunks_search_gin"),
        migrations.RemoveField(model_name="chunk", name="search_vector"),
        migrations.AddField(
            model_name="chunk",
            name="title",
            field=models.TextField(blank=True, db_default="", default=""),
        ),
        migrations.RunSQL(FILL_TITLES, reverse_sql=migrations.RunSQL.noop),
        migrations.AddField(
            model_name="chunk",
            name="search_vector",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.contrib.postgres.search.SearchVector(
                    "heading", config="english", weight="A"
                )
                + django.contrib.postgres.search.SearchVector("text", config="english", weight="B")
                + django.contrib.postgres.search.SearchVector("title", config="english", weight="C"),
                output_field=django.contrib.postgres.search.SearchVectorField(),
            ),
        ),
        migrations.AddIndex(
            model_name="chunk",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["search_vector"], name="toolkit_chunks_search_gin"
            ),
        ),
        migrations.RunSQL(TERM_STATISTICS, reverse_sql=migrations.RunSQL.noop),
    ]

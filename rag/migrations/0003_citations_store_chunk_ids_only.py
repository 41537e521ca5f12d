"""Stored citations lose their "url": links are built from the chunk id when shown (rag/rendering.py).

Every stored citation has carried its chunk_id since the first release, and no reader uses the
stored url any more (chat page, feedback triage, JSON API, CSV, "Add to plan"), so dropping it
loses nothing; going back puts it back from the chunk id, as the old code wrote it.
"""

from django.db import migrations

FORWARD = """
UPDATE chat_logs
SET citations = (
    SELECT coalesce(jsonb_agg(c - 'url' ORDER BY i), '[]'::jsonb)
    FROM jsonb_array_elements(citations) WITH ORDINALITY AS e(c, i)
)
WHERE jsonb_typeof(citations) = 'array' AND citations @? '$[*].url'
"""

BACKWARD = """
UPDATE chat_logs
SET citations = (
    SELECT coalesce(
        jsonb_agg(
            CASE WHEN c ? 'chunk_id' THEN c || jsonb_build_object('url', '/toolkit/source/' || (c->>'chunk_id')) ELSE c END
            ORDER BY i
        ),
        '[]'::jsonb
    )
    FROM jsonb_array_elements(citations) WITH ORDINALITY AS e(c, i)
)
WHERE jsonb_typeof(citations) = 'array' AND jsonb_array_length(citations) > 0
"""


class Migration(migrations.Migration):
    dependencies = [("rag", "0002_analytics_fields")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]

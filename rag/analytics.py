"""Figures for the admin's analytics pages: each one aggregate SQL statement over chat_logs and feedback.

Every function takes the same `Filters` (date range, toolkit, version). A message belongs to a
version when that version was active (searched) when the question was asked: `document_ids`.
"""

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from rag.models import Message
from toolkit.models import ToolkitVersion
from toolkit.relations import PASSAGES, VERSIONS

# Questions are grouped when they read the same once lower-cased and stripped of punctuation.
NORMALISED_QUERY = "btrim(regexp_replace(lower(m.query), '[^[:alnum:]]+', ' ', 'g'))"
NEGATIVE = "(NOT m.answered OR fb.rating = -1)"


@dataclass(frozen=True)
class Filters:
    start: dt.date
    end: dt.date  # inclusive
    toolkit_id: int | None = None
    document_id: int | None = None

    @classmethod
    def last_days(cls, days: int, **kwargs) -> "Filters":
        today = timezone.localdate()
        return cls(start=today - dt.timedelta(days=days - 1), end=today, **kwargs)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """From the first day's midnight to the midnight after the last day, in the site's time zone."""
        zone = timezone.get_current_timezone()
        return (
            dt.datetime.combine(self.start, dt.time.min, tzinfo=zone),
            dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=zone),
        )

    @cached_property
    def toolkit_versions(self) -> list[int]:
        """The chosen toolkit's version ids, read once per page (every figure filters by them)."""
        return list(ToolkitVersion.objects.filter(toolkit_id=self.toolkit_id).values_list("pk", flat=True))

    def messages(self) -> QuerySet:
        """The same selection as `sql()`, as a queryset (for exports and lists)."""
        start, end = self.bounds()
        found = Message.objects.filter(created_at__gte=start, created_at__lt=end)
        if self.document_id is not None:
            found = found.filter(document_ids__contains=[self.document_id])
        if self.toolkit_id is not None:
            found = found.filter(document_ids__overlap=self.toolkit_versions)
        return found

    def sql(self, alias: str = "m") -> tuple[str, dict]:
        """A WHERE condition on chat_logs and its parameters."""
        start, end = self.bounds()
        params = {
            "start": start,
            "end": end,
            "first_day": self.start,
            "last_day": self.end,
            "tz": settings.TIME_ZONE,
        }
        clauses = [f"{alias}.created_at >= %(start)s", f"{alias}.created_at < %(end)s"]
        if self.document_id is not None:
            clauses.append(f"{alias}.document_ids @> ARRAY[%(document_id)s]::bigint[]")
            params["document_id"] = self.document_id
        if self.toolkit_id is not None:
            clauses.append(f"{alias}.document_ids && %(toolkit_versions)s::bigint[]")
            params["toolkit_versions"] = self.toolkit_versions
            params["toolkit_id"] = self.toolkit_id
        return " AND ".join(clauses), params


def _rows(sql: str, params: dict) -> list[dict]:
    # Percentiles and groupings sort tens of thousands of rows: give them memory, not temp files.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '32MB'")
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _change(after: float | None, before: float | None) -> float | None:
    """Difference of two ratios in percentage points."""
    return None if after is None or before is None else (after - before) * 100


def usage(filters: Filters) -> dict:
    """Questions per day (every day of the range, zeros included), answered vs not, active users."""
    where, params = filters.sql()
    days = _rows(
        f"""
        WITH daily AS (
            SELECT (m.created_at AT TIME ZONE %(tz)s)::date AS day,
                   count(*) AS questions, count(*) FILTER (WHERE m.answered) AS answered
            FROM chat_logs m WHERE {where} GROUP BY 1
        )
        SELECT d::date AS day, COALESCE(daily.questions, 0) AS questions,
               COALESCE(daily.answered, 0) AS answered
        FROM generate_series(%(first_day)s::date, %(last_day)s::date, interval '1 day') AS d
        LEFT JOIN daily ON daily.day = d::date
        ORDER BY 1
        """,
        params,
    )
    for day in days:
        day["unanswered"] = day["questions"] - day["answered"]
    (totals,) = _rows(
        f"""
        SELECT count(*) AS questions, count(*) FILTER (WHERE m.answered) AS answered,
               count(*) FILTER (WHERE m.error <> '') AS errors,
               count(DISTINCT m.user_id) AS active_users, count(DISTINCT m.conversation_id) AS conversations
        FROM chat_logs m WHERE {where}
        """,
        params,
    )
    totals["unanswered"] = totals["questions"] - totals["answered"]
    totals["answered_ratio"] = _ratio(totals["answered"], totals["questions"])
    return {**totals, "days": days}


def feedback(filters: Filters) -> dict:
    """Thumbs up and down on the period's answers, in total and per week."""
    where, params = filters.sql()
    weeks = _rows(
        f"""
        SELECT date_trunc('week', m.created_at AT TIME ZONE %(tz)s)::date AS week,
               count(*) FILTER (WHERE fb.rating = 1) AS up,
               count(*) FILTER (WHERE fb.rating = -1) AS down
        FROM chat_logs m JOIN feedback fb ON fb.message_id = m.id
        WHERE {where} GROUP BY 1 ORDER BY 1
        """,
        params,
    )
    up, down = sum(w["up"] for w in weeks), sum(w["down"] for w in weeks)
    for week in weeks:
        week["up_ratio"] = _ratio(week["up"], week["up"] + week["down"])
    return {"up": up, "down": down, "up_ratio": _ratio(up, up + down), "weeks": weeks}


def latency(filters: Filters) -> dict:
    """p50 and p95 (interpolated, as PostgreSQL's percentile_cont) in milliseconds."""
    where, params = filters.sql()
    parts = ", ".join(
        f"percentile_cont({p}) WITHIN GROUP (ORDER BY m.{column}) AS {column}_p{round(p * 100)}"
        for column in ("retrieval_ms", "first_token_ms", "total_ms")
        for p in (0.5, 0.95)
    )
    (row,) = _rows(f"SELECT {parts}, count(m.total_ms) AS measured FROM chat_logs m WHERE {where}", params)
    return {name: round(value) if isinstance(value, float) else value for name, value in row.items()}


def citations(filters: Filters, top: int = 15, uncited: int = 100) -> dict:
    """Most cited sections and versions, and sections of the active versions (or of the chosen
    version) never cited. The period's messages are read once, into citations per chunk.

    A section counts as cited when an answer cited the same heading of the same toolkit in any
    version, so a new version is not reported as all-uncited the day it goes live.
    """
    where, params = filters.sql()
    counts = _rows(
        f"""
        SELECT cited.chunk_id, count(*) AS citations
        FROM chat_logs m CROSS JOIN LATERAL unnest(m.cited_chunk_ids) AS cited(chunk_id)
        WHERE {where} GROUP BY 1
        """,
        params,
    )
    per_chunk = f"""
        per_chunk AS (
            SELECT * FROM unnest(%(chunk_ids)s::bigint[], %(counts)s::bigint[]) AS p(chunk_id, citations)
        ),
        cited AS (
            SELECT p.citations, c.id, c.heading, c.version_id AS document_id, c.version_tag, c.toolkit_id,
                   c.toolkit
            FROM per_chunk p
            JOIN {PASSAGES} c ON c.id = p.chunk_id
        )
    """
    arrays = {"chunk_ids": [r["chunk_id"] for r in counts], "counts": [r["citations"] for r in counts]}
    sections = _rows(
        f"""
        WITH {per_chunk}
        SELECT toolkit, version_tag, heading, min(id) AS chunk_id, sum(citations) AS citations
        FROM cited GROUP BY document_id, toolkit, version_tag, heading
        ORDER BY citations DESC, toolkit, heading LIMIT {int(top)}
        """,
        arrays,
    )
    documents = _rows(
        f"""
        WITH {per_chunk}
        SELECT toolkit, version_tag, document_id, sum(citations) AS citations
        FROM cited GROUP BY document_id, toolkit, version_tag
        ORDER BY citations DESC, toolkit LIMIT {int(top)}
        """,
        arrays,
    )
    scope = "c.version_id = %(document_id)s" if filters.document_id is not None else "c.is_active"
    if filters.toolkit_id is not None:
        scope += " AND c.toolkit_id = %(toolkit_id)s"
    never = _rows(
        f"""
        WITH {per_chunk}
        SELECT c.toolkit, c.version_tag, c.heading, min(c.id) AS chunk_id, count(*) OVER () AS total
        FROM {PASSAGES} c
        WHERE {scope}
          AND NOT EXISTS (
              SELECT 1 FROM cited WHERE cited.toolkit_id = c.toolkit_id AND cited.heading = c.heading
          )
        GROUP BY c.version_id, c.toolkit, c.version_tag, c.heading
        ORDER BY c.toolkit, min(c.ordinal) LIMIT {int(uncited)}
        """,
        {**params, **arrays},
    )
    return {
        "sections": sections,
        "documents": documents,
        "never_cited": {"total": never[0]["total"] if never else 0, "sections": never},
    }


def content_gaps(filters: Filters, limit: int = 30) -> dict:
    """Unanswered and thumbs-down questions, grouped by their normalised text and by the toolkit
    section nearest to them (the first vector hit recorded when they were asked, if embeddings exist)."""
    where, params = filters.sql()
    by_text = _rows(
        f"""
        SELECT {NORMALISED_QUERY} AS normalised, count(*) AS asked,
               count(*) FILTER (WHERE NOT m.answered) AS unanswered,
               count(*) FILTER (WHERE fb.rating = -1) AS thumbs_down,
               count(DISTINCT m.user_id) AS users, max(m.created_at) AS last_asked,
               (array_agg(m.query ORDER BY m.created_at DESC))[1] AS example,
               (array_agg(m.id ORDER BY m.created_at DESC))[1] AS message_id
        FROM chat_logs m LEFT JOIN feedback fb ON fb.message_id = m.id
        WHERE {where} AND {NEGATIVE}
        GROUP BY 1 ORDER BY asked DESC, last_asked DESC LIMIT {int(limit)}
        """,
        params,
    )
    by_section = _rows(
        f"""
        SELECT c.toolkit, c.version_tag, c.heading, c.id AS chunk_id, count(*) AS asked,
               (array_agg(DISTINCT m.query))[1:3] AS examples
        FROM chat_logs m LEFT JOIN feedback fb ON fb.message_id = m.id
        CROSS JOIN LATERAL (
            SELECT (e->>'chunk_id')::bigint AS chunk_id FROM jsonb_array_elements(m.retrieval) AS e
            WHERE (e->>'vector_rank')::int = 1 LIMIT 1
        ) AS nearest
        JOIN {PASSAGES} c ON c.id = nearest.chunk_id
        WHERE {where} AND {NEGATIVE}
        GROUP BY c.toolkit, c.version_tag, c.heading, c.id ORDER BY asked DESC, c.heading LIMIT {int(limit)}
        """,
        params,
    )
    return {"by_text": by_text, "by_section": by_section}


VERSION_WINDOWS = 12  # the most recent activations compared


def versions(filters: Filters) -> list[dict]:
    """For each version made active: the same figures for the N days after and the N days before
    (N = the length of the chosen period; "after" stops when the next version took over, "before"
    starts no earlier than the previous version did).

    Questions count for a toolkit when one of its versions was searched. The toolkit and version
    filters apply; the date range gives only N.
    """
    scope, params = "d.activated_at IS NOT NULL", {"days": filters.days, "limit": VERSION_WINDOWS}
    if filters.toolkit_id is not None:
        scope += " AND d.toolkit_id = %(toolkit_id)s"
        params["toolkit_id"] = filters.toolkit_id
    if filters.document_id is not None:
        scope += " AND d.id = %(document_id)s"
        params["document_id"] = filters.document_id
    rows = _rows(
        f"""
        WITH activations AS (
            SELECT d.id, d.toolkit_id, d.toolkit, d.version_tag, d.activated_at, d.is_active,
                   lag(d.activated_at) OVER activations_in_order AS previous_at,
                   lead(d.activated_at) OVER activations_in_order AS next_at,
                   ARRAY(SELECT x.id FROM {VERSIONS} x WHERE x.toolkit_id = d.toolkit_id) AS toolkit_versions
            FROM {VERSIONS} d WHERE d.activated_at IS NOT NULL
            WINDOW activations_in_order AS (PARTITION BY d.toolkit_id ORDER BY d.activated_at)
        ),
        windows AS (
            SELECT a.*, 'before' AS side,
                   GREATEST(a.activated_at - make_interval(days => %(days)s), a.previous_at) AS starts,
                   a.activated_at AS ends
            FROM activations a
            UNION ALL
            SELECT a.*, 'after', a.activated_at,
                   LEAST(a.activated_at + make_interval(days => %(days)s), COALESCE(a.next_at, 'infinity'))
            FROM activations a
        ),
        chosen AS (
            SELECT w.* FROM windows w JOIN {VERSIONS} d ON d.id = w.id WHERE {scope}
            ORDER BY w.activated_at DESC LIMIT %(limit)s * 2
        )
        SELECT w.id, w.side, w.toolkit_id, w.toolkit, w.version_tag, w.activated_at, w.is_active, f.*
        FROM chosen w
        CROSS JOIN LATERAL (
            -- Each window reads its own range of the created_at index; the toolkit test is applied to
            -- those rows (IS TRUE keeps the planner off the GIN index, which would match every row).
            SELECT count(*) AS questions, count(*) FILTER (WHERE m.answered) AS answered,
                   count(DISTINCT m.user_id) AS users,
                   count(fb.id) FILTER (WHERE fb.rating = 1) AS up,
                   count(fb.id) FILTER (WHERE fb.rating = -1) AS down,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY m.total_ms) AS total_p50,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY m.total_ms) AS total_p95
            FROM chat_logs m LEFT JOIN feedback fb ON fb.message_id = m.id
            WHERE m.created_at >= w.starts AND m.created_at < w.ends
              AND (m.document_ids && w.toolkit_versions) IS TRUE
        ) AS f
        ORDER BY w.toolkit, w.activated_at, w.side DESC
        """,
        params,
    )
    for row in rows:
        row["answered_ratio"] = _ratio(row["answered"], row["questions"])
        row["up_ratio"] = _ratio(row["up"], row["up"] + row["down"])
        for name in ("total_p50", "total_p95"):
            row[name] = round(row[name]) if row[name] is not None else None
    befores = {row["id"]: row for row in rows if row["side"] == "before"}
    versions = [row for row in rows if row["side"] == "after"]
    for row in versions:
        before = row["before"] = befores[row["id"]]
        row["answered_change"] = _change(row["answered_ratio"], before["answered_ratio"])
        row["up_change"] = _change(row["up_ratio"], before["up_ratio"])
    return versions

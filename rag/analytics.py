"""Figures for the admin's analytics pages: each one aggregate SQL statement over chat_logs and feedback.

Every function takes the same `Filters` (date range, toolkit, version). A message belongs to a
version when that version was active (searched) when the question was asked: `document_ids`.
"""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from rag.models import Message
from toolkit.models import Document

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

    def messages(self) -> QuerySet:
        """The same selection as `sql()`, as a queryset (for exports and lists)."""
        start, end = self.bounds()
        found = Message.objects.filter(created_at__gte=start, created_at__lt=end)
        if self.document_id is not None:
            found = found.filter(document_ids__contains=[self.document_id])
        if self.toolkit_id is not None:
            versions = Document.objects.filter(toolkit_id=self.toolkit_id).values_list("pk", flat=True)
            found = found.filter(document_ids__overlap=list(versions))
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
            versions = "ARRAY(SELECT id FROM toolkit_documents WHERE toolkit_id = %(toolkit_id)s)"
            clauses.append(f"{alias}.document_ids && {versions}")
            params["toolkit_id"] = self.toolkit_id
        return " AND ".join(clauses), params


def _rows(sql: str, params: dict) -> list[dict]:
    with connection.cursor() as cursor:
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


CITED = """
    chat_logs m CROSS JOIN LATERAL unnest(m.cited_chunk_ids) AS cited(chunk_id)
    JOIN toolkit_chunks c ON c.id = cited.chunk_id
    JOIN toolkit_documents d ON d.id = c.document_id
    JOIN toolkits t ON t.id = d.toolkit_id
"""


def most_cited_sections(filters: Filters, limit: int = 15) -> list[dict]:
    """Sections (a heading of one version) by the number of answers citing them."""
    where, params = filters.sql()
    return _rows(
        f"""
        SELECT t.name AS toolkit, d.version_tag, c.heading, min(c.id) AS chunk_id,
               count(DISTINCT m.id) AS answers
        FROM {CITED} WHERE {where}
        GROUP BY d.id, t.name, d.version_tag, c.heading
        ORDER BY answers DESC, toolkit, c.heading LIMIT {int(limit)}
        """,
        params,
    )


def most_cited_documents(filters: Filters, limit: int = 10) -> list[dict]:
    where, params = filters.sql()
    return _rows(
        f"""
        SELECT t.name AS toolkit, d.version_tag, d.id AS document_id, count(DISTINCT m.id) AS answers
        FROM {CITED} WHERE {where}
        GROUP BY d.id, t.name, d.version_tag ORDER BY answers DESC, toolkit LIMIT {int(limit)}
        """,
        params,
    )


def never_cited_sections(filters: Filters, limit: int = 100) -> dict:
    """Sections of the active versions (or of the chosen version) no answer cited in the period.

    A section counts as cited when an answer cited the same heading of the same toolkit in any
    version, so a new version is not reported as all-uncited the day it goes live.
    """
    where, params = filters.sql()
    scope = "d.id = %(document_id)s" if filters.document_id is not None else "d.is_active"
    if filters.toolkit_id is not None:
        scope += " AND d.toolkit_id = %(toolkit_id)s"
    rows = _rows(
        f"""
        WITH cited AS (SELECT DISTINCT d.toolkit_id, c.heading FROM {CITED} WHERE {where})
        SELECT t.name AS toolkit, d.version_tag, c.heading, min(c.id) AS chunk_id, count(*) OVER () AS total
        FROM toolkit_chunks c
        JOIN toolkit_documents d ON d.id = c.document_id
        JOIN toolkits t ON t.id = d.toolkit_id
        WHERE {scope}
          AND NOT EXISTS (
              SELECT 1 FROM cited WHERE cited.toolkit_id = d.toolkit_id AND cited.heading = c.heading
          )
        GROUP BY d.id, t.name, d.version_tag, c.heading
        ORDER BY t.name, min(c.ordinal) LIMIT {int(limit)}
        """,
        params,
    )
    return {"total": rows[0]["total"] if rows else 0, "sections": rows}


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
               (array_agg(m.query ORDER BY m.created_at DESC))[1] AS example
        FROM chat_logs m LEFT JOIN feedback fb ON fb.message_id = m.id
        WHERE {where} AND {NEGATIVE}
        GROUP BY 1 ORDER BY asked DESC, last_asked DESC LIMIT {int(limit)}
        """,
        params,
    )
    by_section = _rows(
        f"""
        SELECT t.name AS toolkit, d.version_tag, c.heading, c.id AS chunk_id, count(*) AS asked,
               (array_agg(DISTINCT m.query))[1:3] AS examples
        FROM chat_logs m LEFT JOIN feedback fb ON fb.message_id = m.id
        CROSS JOIN LATERAL (
            SELECT (e->>'chunk_id')::bigint AS chunk_id FROM jsonb_array_elements(m.retrieval) AS e
            WHERE (e->>'vector_rank')::int = 1 LIMIT 1
        ) AS nearest
        JOIN toolkit_chunks c ON c.id = nearest.chunk_id
        JOIN toolkit_documents d ON d.id = c.document_id
        JOIN toolkits t ON t.id = d.toolkit_id
        WHERE {where} AND {NEGATIVE}
        GROUP BY t.name, d.version_tag, c.heading, c.id ORDER BY asked DESC, c.heading LIMIT {int(limit)}
        """,
        params,
    )
    return {"by_text": by_text, "by_section": by_section}


def versions(filters: Filters) -> list[dict]:
    """Each version that has been active, with its figures and those of the version before it.

    A version's figures cover every question asked while it was active (the date range does not
    apply: it is the version's whole life); the toolkit and version filters do.
    """
    scope, params = "d.activated_at IS NOT NULL", {}
    if filters.toolkit_id is not None:
        scope += " AND d.toolkit_id = %(toolkit_id)s"
        params["toolkit_id"] = filters.toolkit_id
    rows = _rows(
        f"""
        SELECT d.id, d.toolkit_id, t.name AS toolkit, d.version_tag, d.activated_at, d.is_active,
               count(m.id) AS questions, count(m.id) FILTER (WHERE m.answered) AS answered,
               count(DISTINCT m.user_id) AS users,
               count(fb.id) FILTER (WHERE fb.rating = 1) AS up,
               count(fb.id) FILTER (WHERE fb.rating = -1) AS down,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY m.total_ms) AS total_p50,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY m.total_ms) AS total_p95
        FROM toolkit_documents d
        JOIN toolkits t ON t.id = d.toolkit_id
        LEFT JOIN chat_logs m ON m.document_ids @> ARRAY[d.id]
        LEFT JOIN feedback fb ON fb.message_id = m.id
        WHERE {scope}
        GROUP BY d.id, t.name ORDER BY t.name, d.activated_at
        """,
        params,
    )
    previous: dict[int, dict] = {}
    for row in rows:
        row["answered_ratio"] = _ratio(row["answered"], row["questions"])
        row["up_ratio"] = _ratio(row["up"], row["up"] + row["down"])
        for name in ("total_p50", "total_p95"):
            row[name] = round(row[name]) if row[name] is not None else None
        before = row["before"] = previous.get(row["toolkit_id"])
        row["answered_change"] = _change(row["answered_ratio"], before and before["answered_ratio"])
        row["up_change"] = _change(row["up_ratio"], before and before["up_ratio"])
        previous[row["toolkit_id"]] = row
    if filters.document_id is not None:
        rows = [row for row in rows if row["id"] == filters.document_id]
    return rows

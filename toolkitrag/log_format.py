"""Log timestamps as ISO-8601 in UTC with the offset written out (2026-11-30T08:41:05.524+00:00).

logging's default `2026-11-30 08:41:05,524` says neither the zone nor the standard; the app, the
worker and gunicorn's own log all use these two formatters so that their lines sort and compare.
No Django import here: gunicorn's master loads this before (and without) the app.
"""

import logging
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter


def iso_time(record: logging.LogRecord) -> str:
    """The record's creation time, e.g. 2026-11-30T08:41:05.524+00:00."""
    return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")


class IsoJsonFormatter(JsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return iso_time(record)


class IsoTextFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return iso_time(record)

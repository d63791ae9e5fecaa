"""CSV downloads of the logs, streamed (a year of entries never sits in memory at once), with cells that a
spreadsheet would run as a formula defused (OWASP's CSV injection advice: prefix them with a quote)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from flask import Response, stream_with_context
from sqlalchemy import Select

from app.extensions import db

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _lines(header: list[str], rows: Iterable[list[object]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(value) for value in row])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_response(filename: str, header: list[str], query: Select, row: Callable[[object], list[object]]) -> Response:
    """Streamed: rows are read 1,000 at a time and sent in chunks of about 64 KiB, inside the request's context."""
    def rows() -> Iterator[list[object]]:
        for item in db.session.scalars(query.execution_options(yield_per=1000)):
            yield row(item)

    response = Response(stream_with_context(_lines(header, rows())), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response

"""SQL expressions every database agrees on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Integer, func, or_


def equals_ignoring_case(column, value: str) -> ColumnElement[bool]:
    """``column`` equals ``value`` ignoring case. SQLite's ``lower()`` folds ASCII only ("È" stays "È"), so the exact
    text is compared too: a duplicate check must never leave it to the unique constraint to find the duplicate."""
    return or_(column == value, func.lower(column) == value.lower())


def hours_since(column, start: datetime) -> ColumnElement:
    """Whole hours from ``start`` to a UTC timestamp column (0 for the first hour), computed by the database."""
    from app.extensions import db

    if db.session.get_bind().dialect.name == "postgresql":
        return func.floor(func.extract("epoch", column - start) / 3600).cast(Integer)
    # SQLite keeps timestamps as text; julianday() reads them, "+00:00" included.
    return func.cast((func.julianday(column) - func.julianday(start.isoformat(sep=" "))) * 24, Integer)


def hour_of(column) -> ColumnElement:
    """The start of the hour of a UTC timestamp column: a datetime on PostgreSQL, ``YYYY-MM-DD HH:00:00`` on
    SQLite (which stores timestamps as text)."""
    from app.extensions import db

    if db.session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", column))
    return func.strftime("%Y-%m-%d %H:00:00", column)

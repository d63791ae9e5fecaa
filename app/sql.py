"""SQL expressions every database agrees on."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, or_


def equals_ignoring_case(column, value: str) -> ColumnElement[bool]:
    """``column`` equals ``value`` ignoring case. SQLite's ``lower()`` folds ASCII only ("È" stays "È"), so the exact
    text is compared too: a duplicate check must never leave it to the unique constraint to find the duplicate."""
    return or_(column == value, func.lower(column) == value.lower())

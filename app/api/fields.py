"""Request fields for numbers that end up in SQL: out of the database's integer range is a field error (422),
not a database error. PostgreSQL's ``integer`` is 32-bit; ids are positive."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

DATABASE_INT_MAX = 2**31 - 1


def database_id(**kwargs: Any) -> ma.fields.Integer:
    """A row's id in a request body (strict: a JSON number) or, with ``strict=False``, in a query string."""
    kwargs.setdefault("strict", True)
    return ma.fields.Integer(validate=ma.validate.Range(min=1, max=DATABASE_INT_MAX), **kwargs)


def database_int(**kwargs: Any) -> ma.fields.Integer:
    """A number stored or compared in SQL; services check its own, narrower, range with a clearer message."""
    kwargs.setdefault("strict", True)
    return ma.fields.Integer(validate=ma.validate.Range(min=-DATABASE_INT_MAX - 1, max=DATABASE_INT_MAX), **kwargs)

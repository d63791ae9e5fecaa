"""Refuses U+0000 anywhere in a request's input. PostgreSQL's text cannot hold it (the statement would fail), and
no form field or API value needs it, so it is a field error up front, on every route, not a 500 deep inside one."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Flask, request
from flask_babel import gettext as _

from app.errors import FieldErrors

NUL = "\x00"


def _nul_paths(value: object, path: str) -> Iterator[str]:
    """JSON pointers (without ``#/``) of every string in ``value`` that holds a NUL, keys included."""
    if isinstance(value, str):
        if NUL in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}/{key}" if path else str(key)
            if NUL in str(key):
                yield child.replace(NUL, "")
            else:
                yield from _nul_paths(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_paths(item, f"{path}/{index}" if path else str(index))


def refuse_nul_characters() -> None:
    fields = [key for source in (request.args, request.form) for key, value in source.items(multi=True)
              if NUL in key or NUL in value]
    if request.is_json:
        fields += list(_nul_paths(request.get_json(silent=True), ""))
    if fields:
        message = _("Must not contain a NUL character.")
        raise FieldErrors({field.replace(NUL, "") or "-": message for field in fields})


def init_input_guard(app: Flask) -> None:
    app.before_request(refuse_nul_characters)

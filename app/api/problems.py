"""RFC 9457 problem details: one shape for every API error, with field-level details for invalid input."""

from __future__ import annotations

from http import HTTPStatus

import marshmallow as ma
from flask import Response, g, json
from flask_babel import gettext as _

import app.api.messages  # noqa: F401  (puts marshmallow's messages in the catalog)

PROBLEM_JSON = "application/problem+json"
VALIDATION_TYPE = "urn:postroom:problem:validation-error"


class FieldProblemSchema(ma.Schema):
    pointer = ma.fields.String(metadata={"description": "JSON Pointer (RFC 6901) to the field, as '#/field'"})
    detail = ma.fields.String()


class ProblemSchema(ma.Schema):
    type = ma.fields.String(metadata={"example": "about:blank"})
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    instance = ma.fields.String()
    errors = ma.fields.List(ma.fields.Nested(FieldProblemSchema))


def _flatten(messages: dict | list | str, path: str = "#") -> list[dict[str, str]]:
    """webargs/marshmallow nest messages by location and field; problem+json wants a flat list of pointers."""
    if isinstance(messages, str):
        return [{"pointer": path, "detail": _(messages)}]
    if isinstance(messages, list):
        return [item for m in messages for item in _flatten(m, path)]
    return [item for key, value in messages.items() for item in _flatten(value, f"{path}/{key}")]


def field_problems(errors: dict[str, str]) -> list[dict[str, str]]:
    return [{"pointer": f"#/{field}", "detail": message} for field, message in errors.items()]


def problem_response(status: int, *, detail: str | None = None, errors: list[dict] | None = None,
                     headers: dict | None = None) -> Response:
    body: dict = {"type": VALIDATION_TYPE if errors else "about:blank",
                  "title": HTTPStatus(status).phrase, "status": status}
    if errors:
        body["title"] = _("Your request has invalid fields.")
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    if g.get("request_id"):
        body["instance"] = f"urn:postroom:request:{g.request_id}"
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON, headers=headers)
    return response


def problem_from_http_exception(error) -> Response:
    """Turn a werkzeug/webargs HTTPException into problem+json, keeping webargs' field messages."""
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    errors = None
    if messages:
        # webargs nests by location first ({"json": {...}}); pointers are relative to the body.
        by_location = messages if isinstance(messages, dict) else {"json": messages}
        errors = [e for location in by_location.values() for e in _flatten(location)]
    headers = dict(data.get("headers") or {})
    headers.update(dict(error.get_headers()) if hasattr(error, "get_headers") else {})
    headers.pop("Content-Type", None)
    detail = data.get("message") or (None if errors else error.description)
    return problem_response(error.code or 500, detail=detail, errors=errors, headers=headers)

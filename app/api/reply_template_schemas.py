"""Shapes of reply templates (canned replies) in the API. Names, lengths and merge fields are checked by the
service (``app.replies.services``), with the portal's messages."""

from __future__ import annotations

import marshmallow as ma

from app.api.pagination import page_schema
from app.api.schemas import Strict
from app.replies.services import BODY_MAX, MERGE_FIELDS, NAME_MAX, placeholder

_DOC = {
    "name": {"description": f"Unique in the tenant (ignoring case); at most {NAME_MAX} characters",
             "example": "Password reset"},
    "body": {"description": f"At most {BODY_MAX} characters. Merge fields, filled when an agent inserts the "
                            f"template: {', '.join(placeholder(name) for name in MERGE_FIELDS)}; any other "
                            "{{ … }} is refused",
             "example": "Hello {{ requester_name }},\n\nyour password was reset."},
}


class ReplyTemplateSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String(metadata=_DOC["name"])
    body = ma.fields.String(metadata=_DOC["body"])
    created_at = ma.fields.AwareDateTime()
    updated_at = ma.fields.AwareDateTime()


class ReplyTemplateUpdateSchema(Strict):
    name = ma.fields.String(metadata=_DOC["name"])
    body = ma.fields.String(metadata=_DOC["body"])


class ReplyTemplateCreateSchema(ReplyTemplateUpdateSchema):
    # Not required here: the service answers a missing name or body with its own, localized field message.
    name = ma.fields.String(load_default="", metadata=_DOC["name"])
    body = ma.fields.String(load_default="", metadata=_DOC["body"])


ReplyTemplatePageSchema = page_schema(ReplyTemplateSchema, "ReplyTemplatePage")

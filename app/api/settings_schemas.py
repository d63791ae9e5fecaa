"""Shapes of data-protection rules and notification templates in the API."""

from __future__ import annotations

import marshmallow as ma

from app.api.pagination import page_schema
from app.api.schemas import Strict
from app.dlp.models import ACTIONS, KINDS

_DLP = {
    "kind": {"enum": list(KINDS), "description": "What the rule looks for"},
    "action": {"enum": list(ACTIONS), "description": "block: the reply is refused; redact: what is found is "
                                                     "replaced by [redacted]"},
    "pattern": {"description": "For kind regex only: a regular expression, case-insensitive"},
}


class DlpRuleSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    kind = ma.fields.String(metadata=_DLP["kind"])
    pattern = ma.fields.String(allow_none=True, metadata=_DLP["pattern"])
    action = ma.fields.String(metadata=_DLP["action"])
    enabled = ma.fields.Boolean()
    created_at = ma.fields.AwareDateTime()


class DlpRuleUpdateSchema(Strict):
    name = ma.fields.String()
    kind = ma.fields.String(metadata=_DLP["kind"])
    pattern = ma.fields.String(allow_none=True, metadata=_DLP["pattern"])
    action = ma.fields.String(metadata=_DLP["action"])
    enabled = ma.fields.Boolean()


class DlpRuleCreateSchema(DlpRuleUpdateSchema):
    # Not required here: the service answers a missing name or kind with its own, localized field message.
    name = ma.fields.String(load_default="")
    kind = ma.fields.String(load_default="", metadata={"description": f"One of {', '.join(KINDS)}"})


class DlpCheckSchema(Strict):
    text = ma.fields.String(required=True, validate=ma.validate.Length(max=200_000))
    subject = ma.fields.String(load_default="", validate=ma.validate.Length(max=998))


class FindingSchema(ma.Schema):
    rule = ma.fields.String()
    kind = ma.fields.String()
    action = ma.fields.String()
    excerpt = ma.fields.String(metadata={"description": "Masked: never the whole secret"})


class VerdictSchema(ma.Schema):
    blocked = ma.fields.Boolean()
    text = ma.fields.String(metadata={"description": "The text as it would be sent (redactions applied)"})
    blocked_by = ma.fields.List(ma.fields.Nested(FindingSchema))
    redacted = ma.fields.List(ma.fields.Nested(FindingSchema))


class TemplateSchema(ma.Schema):
    event = ma.fields.String()
    locale = ma.fields.String()
    subject = ma.fields.String()
    body = ma.fields.String()
    customized = ma.fields.Boolean(metadata={"description": "false: the built-in default is used"})


class TemplateUpdateSchema(Strict):
    subject = ma.fields.String(required=True, validate=ma.validate.Length(max=998))
    body = ma.fields.String(required=True, validate=ma.validate.Length(max=20_000))


DlpRulePageSchema = page_schema(DlpRuleSchema, "DlpRulePage")

"""Shapes of routing rules and contacts in the API. Choices are documented here and checked by the services."""

from __future__ import annotations

import marshmallow as ma

from app.api.fields import database_id, database_int
from app.api.pagination import PageArgsSchema, page_schema
from app.api.schemas import Strict
from app.api.ticket_schemas import ContactSchema

_FIELDS = ["subject", "body", "sender", "any"]
_PRIORITIES = ["low", "normal", "high", "urgent"]
_DOC = {
    "name": {"description": "Shown in the ticket's timeline when the rule matches"},
    "position": {"description": "1-based place in the list; rules run in this order. On create, default: last; "
                                "the rules after it move down one place"},
    "field": {"enum": _FIELDS, "description": "Where the pattern is searched; any: subject, sender and body"},
    "pattern": {"description": "A regular expression (case-insensitive, Python `regex` syntax), at most 500 "
                               "characters", "example": "outage|down"},
    "queue_id": {"description": "The queue a matching ticket moves to; null: keep the queue"},
    "category": {"description": "The category a matching ticket gets; null: keep it"},
    "priority": {"enum": [*_PRIORITIES, None], "description": "The priority a matching ticket gets; null: keep it"},
    "stop": {"description": "When this rule matches, later rules are not applied"},
    "active": {"description": "Inactive rules are kept but not applied"},
}


class RuleSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String(metadata=_DOC["name"])
    position = ma.fields.Integer(metadata=_DOC["position"])
    field = ma.fields.String(metadata=_DOC["field"])
    pattern = ma.fields.String(metadata=_DOC["pattern"])
    queue_id = ma.fields.Integer(allow_none=True, metadata=_DOC["queue_id"])
    category = ma.fields.String(allow_none=True, metadata=_DOC["category"])
    priority = ma.fields.String(allow_none=True, metadata=_DOC["priority"])
    stop = ma.fields.Boolean(metadata=_DOC["stop"])
    active = ma.fields.Boolean(metadata=_DOC["active"])
    created_at = ma.fields.AwareDateTime()


class RuleUpdateSchema(Strict):
    name = ma.fields.String(metadata=_DOC["name"])
    position = database_int(metadata=_DOC["position"])
    field = ma.fields.String(metadata=_DOC["field"])
    pattern = ma.fields.String(metadata=_DOC["pattern"])
    queue_id = database_id(allow_none=True, metadata=_DOC["queue_id"])
    category = ma.fields.String(allow_none=True, metadata=_DOC["category"])
    priority = ma.fields.String(allow_none=True, metadata=_DOC["priority"])
    stop = ma.fields.Boolean(metadata=_DOC["stop"])
    active = ma.fields.Boolean(metadata=_DOC["active"])


class RuleCreateSchema(RuleUpdateSchema):
    # Not required here: the service answers a missing name or pattern with its own, localized message.
    name = ma.fields.String(load_default="", metadata=_DOC["name"])
    pattern = ma.fields.String(load_default="", metadata=_DOC["pattern"])


class ContactArgsSchema(PageArgsSchema):
    q = ma.fields.String(load_default=None, metadata={"description": "Part of the address or name"})
    vip = ma.fields.Boolean(load_default=None, allow_none=True, metadata={"description": "Only VIPs, or only others"})


class ContactUpdateSchema(Strict):
    vip = ma.fields.Boolean(required=True, metadata={
        "description": "A VIP's new tickets start at high priority and skip routing rules"})


RulePageSchema = page_schema(RuleSchema, "RulePage")
ContactPageSchema = page_schema(ContactSchema, "ContactPage")


class RuleTrialInSchema(Strict):
    sender = ma.fields.String(load_default="", validate=ma.validate.Length(max=998),
                              metadata={"description": "The From header, e.g. jo@example.com"})
    subject = ma.fields.String(load_default="", validate=ma.validate.Length(max=998))
    body = ma.fields.String(load_default="", validate=ma.validate.Length(max=100_000))


class RuleResultSchema(ma.Schema):
    rule_id = ma.fields.Integer(attribute="rule.id")
    name = ma.fields.String(attribute="rule.name")
    outcome = ma.fields.String(metadata={"enum": ["matched", "no_match", "inactive", "not_reached", "error",
                                                  "timeout"]})
    matched = ma.fields.String(metadata={"description": "The text the pattern matched"})


class RuleTrialSchema(ma.Schema):
    sender = ma.fields.String()
    vip = ma.fields.Boolean(metadata={"description": "A VIP's tickets skip rule effects: high priority instead"})
    results = ma.fields.List(ma.fields.Nested(RuleResultSchema), metadata={"description": "Every rule, in order"})
    queue_id = ma.fields.Function(lambda trial: trial.queue.id if trial.queue else None, allow_none=True, metadata={
        "type": "integer",
        "description": "null: the queue of the address the mail was sent to stays"})
    category = ma.fields.String(allow_none=True)
    priority = ma.fields.String()
    stopped_by = ma.fields.Function(lambda trial: trial.stopped_by.id if trial.stopped_by else None, allow_none=True,
                                    metadata={"type": "integer", "description": "The rule that stopped evaluation"})

"""Shapes of alert rules and alerts in the API."""

from __future__ import annotations

import marshmallow as ma

from app.alerts.models import KINDS
from app.api.fields import database_int
from app.api.pagination import PageArgsSchema, page_schema
from app.api.schemas import Strict

_THRESHOLD = ("mailbox_failing: failures in a row (default: the tenant's failure_threshold); mailbox_silent: hours "
              "without mail at least (and 1.5 times the mailbox's longest silence of the 14 days before its latest "
              "mail); outbox_backlog: more than this many mails waiting; quarantine_growing: this many messages "
              "quarantined in the last hour; oauth_expiring: days ahead")


class AlertRuleSchema(ma.Schema):
    kind = ma.fields.String(metadata={"enum": list(KINDS)})
    enabled = ma.fields.Boolean()
    threshold = ma.fields.Integer(metadata={"description": f"The threshold that applies. {_THRESHOLD}"})
    default_threshold = ma.fields.Integer()
    uses_default = ma.fields.Function(lambda rule: rule.own_threshold is None, metadata={
        "type": "boolean", "description": "No threshold of the tenant's own: the default applies"})


class AlertRuleListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(AlertRuleSchema))


class AlertRuleUpdateSchema(Strict):
    enabled = ma.fields.Boolean()
    threshold = database_int(allow_none=True, metadata={
        "description": "null: back to the default. The range per kind is checked: a 422 at #/threshold"})


class AlertSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"enum": list(KINDS)})
    subject = ma.fields.String(attribute="subject_key", metadata={
        "description": "What it concerns: mailbox:<id>, outbox, quarantine, grant:<id> or oauth_app:<id>"})
    label = ma.fields.String(metadata={"description": "The subject as people know it, e.g. a mailbox's address"})
    detail = ma.fields.Dict(metadata={"description": "The figures found when it opened (they depend on the kind)"})
    state = ma.fields.Function(lambda alert: "open" if alert.resolved_at is None else "resolved",
                               metadata={"type": "string", "enum": ["open", "resolved"]})
    resolution = ma.fields.String(allow_none=True, metadata={
        "enum": ["cleared", "rule_disabled", "withdrawn", None],
        "description": "cleared: the condition went away (announced); closed without a notice: rule_disabled (its "
                       "rule was switched off), withdrawn (its mailbox was paused or removed)"})
    opened_at = ma.fields.AwareDateTime()
    resolved_at = ma.fields.AwareDateTime(allow_none=True)


class AlertListArgsSchema(PageArgsSchema):
    state = ma.fields.String(load_default="all", validate=ma.validate.OneOf(["open", "resolved", "all"]))


AlertPageSchema = page_schema(AlertSchema, "AlertPage")

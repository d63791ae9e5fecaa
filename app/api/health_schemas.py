"""Schemas of the tenant health summary and the outbox."""

from __future__ import annotations

import marshmallow as ma

from app.api.fields import database_id
from app.api.pagination import PageArgsSchema, page_schema
from app.api.ticket_schemas import OutgoingSchema


class MailboxHealthRowSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    address = ma.fields.String()
    status = ma.fields.String(metadata={"enum": ["active", "failing", "paused", "reauth_required"]})
    last_sync_at = ma.fields.AwareDateTime(allow_none=True, metadata={"description": "Last successful sync"})
    attempts_24h = ma.fields.Integer()
    success_rate_24h = ma.fields.Float(allow_none=True, metadata={"description": "0..1; null without attempts"})
    failure_streak = ma.fields.Integer()
    failure_category = ma.fields.String(allow_none=True)


class QueueHealthRowSchema(ma.Schema):
    id = ma.fields.Integer(allow_none=True, metadata={"description": "null: tickets in no queue"})
    name = ma.fields.String(allow_none=True)
    open = ma.fields.Integer()
    pending = ma.fields.Integer()
    oldest_waiting_since = ma.fields.AwareDateTime(allow_none=True, metadata={
        "description": "Last change of the open ticket that has waited longest"})


class TenantHealthSchema(ma.Schema):
    mailboxes = ma.fields.List(ma.fields.Nested(MailboxHealthRowSchema))
    queues = ma.fields.List(ma.fields.Nested(QueueHealthRowSchema))
    quarantine = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), metadata={
        "description": "held: messages held in quarantine"})
    outbox = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), metadata={
        "description": "pending (no attempt yet), retrying, failed_24h"})
    webhooks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), metadata={
        "description": "pending deliveries, dead_24h, disabled_endpoints (disabled for failing)"})


OUTGOING_STATUSES = ["queued", "sending", "sent", "failed", "blocked", "suppressed"]


class OutboxArgsSchema(PageArgsSchema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(OUTGOING_STATUSES))
    kind = ma.fields.String(load_default=None, validate=ma.validate.OneOf(["reply", "notification", "system"]))
    mailbox = database_id(load_default=None, strict=False)
    ticket = database_id(load_default=None, strict=False)


class OutboxMailSchema(OutgoingSchema):
    ticket_id = ma.fields.Integer(allow_none=True)
    mailbox_id = ma.fields.Integer(allow_none=True)


OutboxPageSchema = page_schema(OutboxMailSchema, "OutboxPage")

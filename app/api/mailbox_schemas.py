"""Shapes of mailboxes, queues, connection tests and audit events in the API.

Input is nested (``inbound``, ``outbound``, ``sync``); the services take flat settings (see ``app.api.mailboxes``).
Nothing is required and no enum is checked here: the services answer those with their own, localized messages.
Secrets are load-only and never dumped; answers say ``has_password`` instead.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import marshmallow as ma

from app.api.fields import database_id, database_int
from app.api.pagination import PageArgsSchema, page_schema
from app.api.schemas import Strict
from app.connections.messages import describe, step_label


class QueueRef(ma.fields.Field):
    """A queue of the token's tenant: its id (integer) or its exact name (string)."""

    default_error_messages = {"invalid": "Invalid value."}  # in the catalog (app.api.messages)

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"description": "A queue id (integer) or the exact name of a queue (string)",
                                       "example": "IT"})
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr, data, **kwargs) -> int | str:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.make_error("invalid")
        return value


class AliasInSchema(Strict):
    address = ma.fields.String(load_default="")
    queue = QueueRef(allow_none=True)


class AliasItem(ma.fields.Field):
    """An alias address, or ``{"address", "queue"}`` to route it to its own queue."""

    default_error_messages = {"invalid": "Invalid value."}

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"description": "An address (string) or {\"address\", \"queue\"}",
                                       "example": "help@example.com"})
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr, data, **kwargs) -> dict:
        if isinstance(value, str):
            return {"address": value}
        if isinstance(value, dict):
            return AliasInSchema().load(value)  # its ValidationError nests under the item's index
        raise self.make_error("invalid")


class InboundInSchema(Strict):
    protocol = ma.fields.String(metadata={"description": "imap | pop3"})
    host = ma.fields.String()
    port = database_int()
    security = ma.fields.String(metadata={"description": "tls | starttls | none (if the tenant allows plaintext)"})
    username = ma.fields.String()
    password = ma.fields.String(load_only=True, metadata={"description": "Omit or leave empty to keep the stored one"})
    oauth_grant_id = database_id(allow_none=True)
    folder = ma.fields.String(metadata={"description": "The folder to fetch (default INBOX)"})
    folders = ma.fields.List(ma.fields.String(), metadata={"description": "Several folders, instead of folder"})
    after_fetch = ma.fields.String(metadata={"description": "keep | mark_seen | move | delete"})
    move_to_folder = ma.fields.String(allow_none=True)
    ca_pem = ma.fields.String(allow_none=True, metadata={"description": "A private CA certificate (PEM)"})


class OutboundInSchema(Strict):
    mode = ma.fields.String(metadata={"description": "own (default) | relay | none"})
    host = ma.fields.String()
    port = database_int()
    security = ma.fields.String()
    username = ma.fields.String()
    password = ma.fields.String(load_only=True, metadata={"description": "Omit or leave empty to keep the stored one"})
    oauth_grant_id = database_id(allow_none=True, metadata={
        "description": "Must be the mailbox's own grant: one OAuth grant serves both IMAP and SMTP"})


class SyncInSchema(Strict):
    mode = ma.fields.String(metadata={"description": "poll | idle (IMAP only)"})
    interval_seconds = database_int()


class MailboxInSchema(Strict):
    name = ma.fields.String()
    address = ma.fields.String()
    aliases = ma.fields.List(AliasItem())
    queue = QueueRef(allow_none=True)
    inbound = ma.fields.Nested(InboundInSchema)
    outbound = ma.fields.Nested(OutboundInSchema, allow_none=True,
                                metadata={"description": "null: receive only (mode none)"})
    sync = ma.fields.Nested(SyncInSchema)
    from_name = ma.fields.String(allow_none=True)
    reply_to = ma.fields.String(allow_none=True)
    signature = ma.fields.String(metadata={"description": "Added below every reply and notification"})
    disclaimer = ma.fields.String(metadata={"description": "Added below the signature"})
    sent_folder = ma.fields.String(allow_none=True, metadata={
        "description": "An IMAP folder that keeps a copy of every mail sent; null: none"})


class MailboxUpdateSchema(MailboxInSchema):
    """Every part optional; ``aliases``, when given, is the complete list of the mailbox's other addresses."""


class _Whole(ma.fields.Nested):
    """A nested view of the *same* object (the model is flat; the API nests it)."""

    def get_value(self, obj, attr, accessor=None, default=ma.missing):
        return obj


class InboundOutSchema(ma.Schema):
    protocol = ma.fields.String(attribute="inbound_protocol")
    host = ma.fields.String(attribute="inbound_host")
    port = ma.fields.Integer(attribute="inbound_port")
    security = ma.fields.String(attribute="inbound_security")
    username = ma.fields.String(attribute="inbound_username")
    has_password = ma.fields.Function(lambda m: bool(m.inbound_password), metadata={"type": "boolean"})
    oauth_grant_id = ma.fields.Integer(allow_none=True)
    folder = ma.fields.Function(lambda m: (m.folders or ["INBOX"])[0], metadata={"type": "string"})
    folders = ma.fields.List(ma.fields.String())
    after_fetch = ma.fields.String()
    move_to_folder = ma.fields.String(allow_none=True)
    ca_pem = ma.fields.String(allow_none=True)


class OutboundOutSchema(ma.Schema):
    mode = ma.fields.String(attribute="outbound_mode")
    host = ma.fields.String(attribute="outbound_host", allow_none=True)
    port = ma.fields.Integer(attribute="outbound_port", allow_none=True)
    security = ma.fields.String(attribute="outbound_security", allow_none=True)
    username = ma.fields.String(attribute="outbound_username", allow_none=True)
    has_password = ma.fields.Function(lambda m: bool(m.outbound_password), metadata={"type": "boolean"})


class SyncOutSchema(ma.Schema):
    mode = ma.fields.String(attribute="sync_mode")
    interval_seconds = ma.fields.Integer(attribute="poll_interval")


class AliasOutSchema(ma.Schema):
    id = ma.fields.Integer()
    address = ma.fields.String()
    queue = ma.fields.Integer(attribute="queue_id", allow_none=True,
                              metadata={"description": "null: the mailbox's default queue"})


class MailboxSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    address = ma.fields.String()
    status = ma.fields.String(metadata={"description": "active | paused | failing | reauth_required"})
    queue = ma.fields.Integer(attribute="default_queue_id", allow_none=True)
    aliases = ma.fields.List(ma.fields.Nested(AliasOutSchema))
    inbound = _Whole(InboundOutSchema)
    outbound = _Whole(OutboundOutSchema)
    sync = _Whole(SyncOutSchema)
    from_name = ma.fields.String(allow_none=True)
    reply_to = ma.fields.String(allow_none=True)
    signature = ma.fields.String(metadata={"description": "Added below every reply and notification"})
    disclaimer = ma.fields.String(metadata={"description": "Added below the signature"})
    sent_folder = ma.fields.String(allow_none=True, metadata={
        "description": "An IMAP folder that keeps a copy of every mail sent; null: none"})
    failure_streak = ma.fields.Integer()
    created_at = ma.fields.AwareDateTime()
    updated_at = ma.fields.AwareDateTime()


class HealthSchema(ma.Schema):
    status = ma.fields.String()
    last_sync_at = ma.fields.AwareDateTime(allow_none=True)
    attempts_24h = ma.fields.Integer()
    success_rate_24h = ma.fields.Float(allow_none=True, metadata={"description": "0..1; null without attempts"})
    median_latency_ms = ma.fields.Float(allow_none=True)
    failure_streak = ma.fields.Integer()
    failure_category = ma.fields.String(allow_none=True)


class ConnectionLogSchema(ma.Schema):
    id = ma.fields.Integer()
    started_at = ma.fields.AwareDateTime()
    kind = ma.fields.String(metadata={"description": "test | sync | send"})
    direction = ma.fields.String(metadata={"description": "inbound | outbound"})
    ok = ma.fields.Boolean()
    category = ma.fields.String(allow_none=True)
    step = ma.fields.String(allow_none=True)
    duration_ms = ma.fields.Float()
    server_response = ma.fields.String(allow_none=True)
    job_id = ma.fields.String(allow_none=True)


class JobCreatedSchema(ma.Schema):
    job_id = ma.fields.String()


class BackfillSchema(Strict):
    since = ma.fields.Date(load_default=None, allow_none=True, metadata={
        "description": "Import mail that arrived on or after this day (the server's arrival date)",
        "example": "2026-01-01"})


class JobStepSchema(ma.Schema):
    direction = ma.fields.String()
    step = ma.fields.String()
    label = ma.fields.Function(lambda s: step_label(s.get("step") or ""), metadata={"type": "string"})
    ok = ma.fields.Boolean()
    latency_ms = ma.fields.Float(allow_none=True)
    category = ma.fields.String(allow_none=True)
    message = ma.fields.Function(lambda s: None if s.get("ok") else describe(s),
                                 metadata={"type": "string", "nullable": True,
                                           "description": "What went wrong and what to try, localized"})
    detail = ma.fields.Dict()
    server_response = ma.fields.String(allow_none=True)


class JobSchema(ma.Schema):
    job_id = ma.fields.String()
    kind = ma.fields.String(dump_default="connection_test", metadata={"description": "connection_test | sync"})
    mailbox_id = ma.fields.Integer()
    status = ma.fields.String(metadata={"description": "connection tests: queued | running | passed | failed; "
                                                      "syncs: queued | started | finished | failed"})
    steps = ma.fields.List(ma.fields.Nested(JobStepSchema))
    result = ma.fields.Dict(metadata={"description": "syncs: per folder, messages stored and duplicates"})
    created_at = ma.fields.AwareDateTime()
    finished_at = ma.fields.AwareDateTime(allow_none=True)


class QueueSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    description = ma.fields.String()
    created_at = ma.fields.AwareDateTime()


class QueueCreateSchema(Strict):
    name = ma.fields.String(load_default="")
    description = ma.fields.String(load_default="")


class QueueUpdateSchema(Strict):
    name = ma.fields.String()
    description = ma.fields.String()


class AuditArgsSchema(PageArgsSchema):
    action = ma.fields.String()
    actor = ma.fields.String(metadata={"description": "Part of the actor's name"})
    object_type = ma.fields.String()
    since = ma.fields.AwareDateTime(default_timezone=UTC, metadata={"description": "ISO 8601; UTC unless given"})
    until = ma.fields.AwareDateTime(default_timezone=UTC, metadata={"description": "ISO 8601, exclusive"})


class AuditEventSchema(ma.Schema):
    id = ma.fields.Integer()
    created_at = ma.fields.AwareDateTime()
    actor = ma.fields.String()
    action = ma.fields.String()
    object_type = ma.fields.String()
    object_id = ma.fields.Integer(allow_none=True)
    object_label = ma.fields.String()
    changes = ma.fields.Dict(metadata={"description": "{field: [old, new]}; secrets only as \"changed\""})


MailboxPageSchema = page_schema(MailboxSchema, "MailboxPage")
ConnectionLogPageSchema = page_schema(ConnectionLogSchema, "ConnectionLogPage")
QueuePageSchema = page_schema(QueueSchema, "QueuePage")
AuditEventPageSchema = page_schema(AuditEventSchema, "AuditEventPage")

"""Schemas of the message trace: the search's candidates and one message's steps."""

from __future__ import annotations

import marshmallow as ma

from app.api.pagination import PageArgsSchema, PageMetaSchema
from app.trace.steps import milliseconds


class TraceArgsSchema(PageArgsSchema):
    q = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=300), metadata={
        "description": "A Message-ID (with or without <>), an e-mail address (mail from it, sent to it, or received "
                       "by the mailbox with this address), a ticket reference, number or id, or the SHA-256 of a raw "
                       "mail (the only way to find mail that never became a message, e.g. quarantined)"})


class TraceCandidateSchema(ma.Schema):
    kind = ma.fields.String(metadata={"enum": ["message", "receipt"], "description":
                                      "receipt: mail that never became a message (quarantined, or not processed yet)"})
    id = ma.fields.Integer(metadata={"description": "The message's id, or the receipt's"})
    at = ma.fields.AwareDateTime(metadata={"description": "When the message was made, or the mail was received"})
    direction = ma.fields.String(allow_none=True, metadata={"enum": ["inbound", "outbound", "note"]})
    from_ = ma.fields.String(attribute="from_address", data_key="from")
    subject = ma.fields.String()
    message_id = ma.fields.String(allow_none=True, metadata={"description": "The Message-ID header, without <>"})
    ticket_id = ma.fields.Integer(allow_none=True)
    ticket_reference = ma.fields.String(allow_none=True)
    status = ma.fields.String(allow_none=True, metadata={
        "description": "A receipt's status (stored, quarantined), a reply's delivery status"})
    sha256 = ma.fields.String(allow_none=True, metadata={"description": "SHA-256 of the raw mail, when received"})


class TraceCandidatePageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(TraceCandidateSchema))
    meta = ma.fields.Nested(PageMetaSchema)


class TraceStepSchema(ma.Schema):
    kind = ma.fields.String(metadata={"description": "e.g. received, stored, parsed, threaded, routed, "
                                                    "acknowledgement, mail_queued, mail_deferred, mail_sent, "
                                                    "mail_bounced, webhook_queued, webhook_delivered"})
    label = ma.fields.String(metadata={"description": "The step in the request's language"})
    at = ma.fields.AwareDateTime()
    since_previous_ms = ma.fields.Function(lambda step: milliseconds(step.since_previous))
    since_first_ms = ma.fields.Function(lambda step: milliseconds(step.since_first))
    ok = ma.fields.Boolean(metadata={"description": "false: something failed or was held back"})
    detail = ma.fields.String()
    related_message_id = ma.fields.Integer(allow_none=True, metadata={
        "description": "Another message this step is about (a bounce report), to trace in turn"})


class TraceSchema(ma.Schema):
    subject = ma.fields.Nested(TraceCandidateSchema, metadata={"description": "What was traced"})
    bounce_of_id = ma.fields.Integer(allow_none=True, metadata={
        "description": "This message is a delivery report about that message"})
    total_ms = ma.fields.Function(lambda trace: milliseconds(trace.total))
    steps = ma.fields.List(ma.fields.Nested(TraceStepSchema), metadata={"description": "Oldest first"})

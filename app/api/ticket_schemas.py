"""Shapes of tickets, messages and quarantined mail in the API."""

from __future__ import annotations

import marshmallow as ma

from app.api.fields import database_id, database_int
from app.api.pagination import PageArgsSchema, page_schema
from app.api.schemas import Strict


class AddressSchema(ma.Schema):
    name = ma.fields.String()
    address = ma.fields.String()


class _Pairs(ma.fields.List):
    """Stored as ``[[name, address], ...]``; answered as ``[{"name", "address"}, ...]``."""

    def __init__(self, **kwargs):
        super().__init__(ma.fields.Nested(AddressSchema), **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        pairs = [{"name": name, "address": address} for name, address in value or []]
        return super()._serialize(pairs, attr, obj, **kwargs)


class ContactSchema(ma.Schema):
    id = ma.fields.Integer()
    email = ma.fields.String()
    name = ma.fields.String()
    vip = ma.fields.Boolean()
    bouncing = ma.fields.Boolean()


class TicketSchema(ma.Schema):
    id = ma.fields.Integer()
    reference = ma.fields.String(metadata={"description": "Shown to requesters as the subject token [#REF]"})
    subject = ma.fields.String()
    status = ma.fields.String(metadata={"enum": ["open", "pending", "resolved", "closed"]})
    priority = ma.fields.String(metadata={"enum": ["low", "normal", "high", "urgent"]})
    category = ma.fields.String(allow_none=True)
    queue_id = ma.fields.Integer(allow_none=True)
    mailbox_id = ma.fields.Integer(allow_none=True)
    requester = ma.fields.Nested(ContactSchema, allow_none=True)
    assignee_id = ma.fields.Integer(allow_none=True)
    linked_ticket_id = ma.fields.Integer(allow_none=True)
    sender_flagged = ma.fields.Boolean(metadata={"description": "A message failed DMARC at the trusted server"})
    created_at = ma.fields.AwareDateTime()
    updated_at = ma.fields.AwareDateTime()
    last_message_at = ma.fields.AwareDateTime()
    version = ma.fields.Integer(metadata={"description": "Goes up with every change: send it back with yours"})


class AttachmentSchema(ma.Schema):
    id = ma.fields.Integer()
    filename = ma.fields.String()
    content_type = ma.fields.String()
    size = ma.fields.Integer()
    disposition = ma.fields.String()
    content_id = ma.fields.String(allow_none=True)
    is_calendar = ma.fields.Boolean()
    withheld_reason = ma.fields.String(allow_none=True, metadata={"enum": ["too_large", "blocked_type", None]})


class MessageSchema(ma.Schema):
    id = ma.fields.Integer()
    direction = ma.fields.String(metadata={"enum": ["inbound", "outbound", "note"]})
    message_id = ma.fields.String(allow_none=True)
    from_ = ma.fields.Method("_sender", data_key="from")
    to = _Pairs()
    cc = _Pairs()
    subject = ma.fields.String()
    text = ma.fields.String(allow_none=True)
    html = ma.fields.String(allow_none=True, metadata={"description": "Sanitized; remote images still present"})
    attachments = ma.fields.List(ma.fields.Nested(AttachmentSchema))
    received_at = ma.fields.AwareDateTime(attribute="created_at")
    sent_at = ma.fields.AwareDateTime(allow_none=True)
    thread_reason = ma.fields.String(metadata={"description": "Why this message joined its ticket"})
    automatic = ma.fields.Boolean()
    automatic_reason = ma.fields.String(allow_none=True)
    acknowledge = ma.fields.Boolean(metadata={"description": "An acknowledgement to the sender is due"})
    delivery_status = ma.fields.String(allow_none=True, metadata={
        "description": "Replies: queued, sent, failed, bounced or not_sent"})
    authenticity = ma.fields.Dict(metadata={"description": "spf/dkim/dmarc from the tenant's trusted server"})
    sender_flagged = ma.fields.Boolean()

    def _sender(self, message) -> dict:
        return {"name": message.from_name, "address": message.from_address}


class EventSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    detail = ma.fields.Dict()
    message_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class TicketDetailSchema(TicketSchema):
    messages = ma.fields.List(ma.fields.Nested(MessageSchema))
    events = ma.fields.List(ma.fields.Nested(EventSchema))


class TicketArgsSchema(PageArgsSchema):
    status = ma.fields.String(load_default=None)
    queue = database_id(load_default=None, strict=False)
    q = ma.fields.String(load_default=None)


TicketPageSchema = page_schema(TicketSchema, "TicketPage")


class QuarantineSchema(ma.Schema):
    id = ma.fields.Integer()
    mailbox_id = ma.fields.Integer()
    folder = ma.fields.String()
    uid = ma.fields.Integer()
    size = ma.fields.Integer()
    sha256 = ma.fields.String()
    reason = ma.fields.String(attribute="quarantine_reason")
    detail = ma.fields.String(attribute="quarantine_detail", allow_none=True)
    attempts = ma.fields.Integer()
    received_at = ma.fields.AwareDateTime()
    quarantined_at = ma.fields.AwareDateTime(attribute="processed_at", allow_none=True)


class QuarantineArgsSchema(PageArgsSchema):
    reason = ma.fields.String(load_default=None)
    mailbox = database_id(load_default=None, strict=False)


QuarantinePageSchema = page_schema(QuarantineSchema, "QuarantinePage")


class ReplaySchema(Strict):
    accept = ma.fields.Boolean(load_default=False, metadata={
        "description": "Waive sender policies (DMARC quarantine, allowed sender domains) for these messages"})


class BulkReplaySchema(ReplaySchema):
    ids = ma.fields.List(database_id(), load_default=None)
    reason = ma.fields.String(load_default=None, metadata={"description": "Replay every message held for this reason"})


class ReplayedSchema(ma.Schema):
    replayed = ma.fields.List(ma.fields.Integer())


class TicketChangeSchema(Strict):
    status = ma.fields.String(metadata={"enum": ["open", "pending", "resolved", "closed"]})
    priority = ma.fields.String(metadata={"enum": ["low", "normal", "high", "urgent"]})
    assignee_id = database_id(allow_none=True)
    queue_id = database_id(allow_none=True)
    version = database_int(metadata={"description": "The ticket's version as you read it: a newer one "
                                                         "(someone changed the ticket meanwhile) is a 409"})


class TextSchema(Strict):
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100_000))
    version = database_int(metadata={"description": "As for a change: a newer version is a 409"})


class DeliveryAttemptSchema(ma.Schema):
    number = ma.fields.Integer()
    outcome = ma.fields.String(metadata={"enum": ["sent", "deferred", "failed"]})
    code = ma.fields.Integer(allow_none=True)
    response = ma.fields.String()
    server = ma.fields.String()
    duration_ms = ma.fields.Integer()
    started_at = ma.fields.AwareDateTime()


class OutgoingSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.Function(lambda o: o.kind.value, metadata={"enum": ["reply", "notification", "system"]})
    event = ma.fields.String(allow_none=True)
    message_id = ma.fields.Integer(allow_none=True)
    rfc_message_id = ma.fields.String()
    recipients = ma.fields.List(ma.fields.String())
    subject = ma.fields.String()
    status = ma.fields.Function(lambda o: o.status.value, metadata={
        "enum": ["queued", "sending", "sent", "failed", "blocked", "suppressed"]})
    status_reason = ma.fields.String(allow_none=True)
    attempts = ma.fields.Integer()
    next_attempt_at = ma.fields.AwareDateTime(allow_none=True)
    last_error = ma.fields.String(allow_none=True)
    bounce_reason = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    sent_at = ma.fields.AwareDateTime(allow_none=True)
    attempt_log = ma.fields.List(ma.fields.Nested(DeliveryAttemptSchema), attribute="attempts_log")

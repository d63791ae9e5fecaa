"""Shapes of webhook endpoints and deliveries in the API. Secrets are never returned, except the new one, once,
in the answer to a create or a rotation."""

from __future__ import annotations

import marshmallow as ma

from app.api.pagination import PageArgsSchema, page_schema
from app.api.schemas import Strict
from app.webhooks.models import EVENTS

_DOC = {
    "url": {"description": "An https:// URL; checked by the SSRF guard when saved and at every send",
            "example": "https://crm.example.com/hooks/postroom"},
    "events": {"description": f"Any of: {', '.join(EVENTS)}"},
    "active": {"description": "Inactive endpoints get nothing; one that kept failing is switched off"},
}


class EndpointSchema(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.String(metadata=_DOC["url"])
    description = ma.fields.String()
    events = ma.fields.List(ma.fields.String(), metadata=_DOC["events"])
    active = ma.fields.Boolean(metadata=_DOC["active"])
    disabled_reason = ma.fields.String(allow_none=True, metadata={
        "description": "Why it was switched off, when it kept failing"})
    failure_streak = ma.fields.Integer(metadata={"description": "Failed attempts in a row"})
    previous_secret_until = ma.fields.AwareDateTime(attribute="previous_until", allow_none=True, metadata={
        "description": "Until when the previous secret still signs (after a rotation)"})
    created_at = ma.fields.AwareDateTime()


class EndpointWithSecretSchema(EndpointSchema):
    secret = ma.fields.String(metadata={"description": "The signing secret: shown in this answer only"})


class EndpointUpdateSchema(Strict):
    url = ma.fields.String(metadata=_DOC["url"])
    description = ma.fields.String()
    events = ma.fields.List(ma.fields.String(), metadata=_DOC["events"])
    active = ma.fields.Boolean(metadata=_DOC["active"])


class EndpointCreateSchema(EndpointUpdateSchema):
    url = ma.fields.String(load_default="", metadata=_DOC["url"])
    events = ma.fields.List(ma.fields.String(), load_default=list, metadata=_DOC["events"])


class AttemptSchema(ma.Schema):
    number = ma.fields.Integer()
    status_code = ma.fields.Integer(allow_none=True)
    error = ma.fields.String(allow_none=True)
    response = ma.fields.String(metadata={"description": "The first kilobyte of the receiver's answer"})
    latency_ms = ma.fields.Integer()
    started_at = ma.fields.AwareDateTime()


class DeliverySchema(ma.Schema):
    id = ma.fields.Integer()
    event = ma.fields.String()
    event_id = ma.fields.String(metadata={"description": "Postroom-Id: the idempotency id"})
    status = ma.fields.Function(lambda d: d.status.value, metadata={
        "enum": ["pending", "delivering", "delivered", "dead"]})
    attempts = ma.fields.Integer()
    next_attempt_at = ma.fields.AwareDateTime(allow_none=True)
    last_status = ma.fields.Integer(allow_none=True)
    last_error = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    delivered_at = ma.fields.AwareDateTime(allow_none=True)
    attempts_log = ma.fields.List(ma.fields.Nested(AttemptSchema), data_key="attempt_log")


class DeliveryArgsSchema(PageArgsSchema):
    status = ma.fields.String(validate=ma.validate.OneOf(["pending", "delivering", "delivered", "dead"]))


EndpointPageSchema = page_schema(EndpointSchema, "WebhookEndpointPage")
DeliveryPageSchema = page_schema(DeliverySchema, "WebhookDeliveryPage")

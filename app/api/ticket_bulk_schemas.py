"""Shapes of merging, splitting and bulk changes of tickets, and of a ticket's requester's preferences."""

from __future__ import annotations

import marshmallow as ma

from app.api.fields import database_id, database_int
from app.api.schemas import Strict
from app.api.ticket_schemas import ContactSchema, TicketSchema
from app.auth.validation import LOCALES
from app.inbox.bulk_views import MAX_SELECTED

_VERSION = {"description": "The ticket's version as you read it: a newer one (someone changed the ticket "
                           "meanwhile) is a 409"}


class MergeSchema(Strict):
    into = database_id(required=True, metadata={
        "description": "The id of the ticket that survives: it gets every message and timeline entry, this one is "
                       "closed and points to it. Not a ticket of this tenant: a 422 at #/into"})
    version = database_int(metadata=_VERSION)


class SplitSchema(Strict):
    version = database_int(metadata=_VERSION)


class BulkChangeSchema(Strict):
    """What the inbox's bulk form changes; fields not given keep their values, at least one must be given."""

    ids = ma.fields.List(database_id(), required=True, validate=ma.validate.Length(min=1, max=MAX_SELECTED), metadata={
        "description": f"1 to {MAX_SELECTED} ticket ids. Ids that are no ticket of this tenant are skipped "
                       "and listed in the answer's skipped, as in the inbox"})
    status = ma.fields.String(metadata={"enum": ["open", "pending", "resolved", "closed"]})
    assignee_id = database_id(allow_none=True, metadata={"description": "An agent of this tenant; null: unassign"})
    queue_id = database_id(allow_none=True, metadata={"description": "A queue of this tenant; null: no queue"})


class BulkResultSchema(ma.Schema):
    changed = ma.fields.List(ma.fields.Nested(TicketSchema), metadata={
        "description": "The tickets that changed, as they are now (each change is on its timeline and audited)"})
    unchanged = ma.fields.List(ma.fields.Integer(), metadata={
        "description": "Ids of tickets that already were like that"})
    skipped = ma.fields.List(ma.fields.Integer(), metadata={
        "description": "Ids that are no ticket of this tenant (unknown or another tenant's, alike): not touched"})


class RequesterSchema(ContactSchema):
    locale = ma.fields.String(allow_none=True, metadata={"description": "null: detected from their mail"})
    timezone = ma.fields.String(allow_none=True, metadata={"description": "null: the tenant's time zone"})
    notifications_opt_out = ma.fields.Boolean(metadata={
        "description": "No non-essential notifications, such as status changes"})


class RequesterChangeSchema(Strict):
    """How the desk writes to a ticket's requester (for every ticket of theirs); fields not given keep their
    values."""

    locale = ma.fields.String(allow_none=True, metadata={
        "enum": [*LOCALES, None], "description": "The language of mail to them; null: detect from their mail"})
    timezone = ma.fields.String(allow_none=True, metadata={
        "description": "An IANA time zone such as Europe/Berlin; null: the tenant's"})
    notifications_opt_out = ma.fields.Boolean(metadata={
        "description": "No non-essential notifications, such as status changes"})

"""Shapes of the API's resources. Validation rules live in the services; these only shape and document."""

from __future__ import annotations

import marshmallow as ma

from app.api.fields import database_int
from app.api.pagination import page_schema


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class InboundPolicySchema(Strict):
    """The tenant's inbound policy; in PATCH every field is optional and fields not given keep their values."""

    ticket_prefix = ma.fields.String(metadata={
        "description": "1 to 12 letters or digits (stored upper-case) of ticket references like [#ACME-1042]; "
                       "empty: derived from the slug"})
    reopen_policy = ma.fields.String(metadata={
        "enum": ["reopen", "new_linked"],
        "description": "A reply to a closed ticket reopens it, or opens a new ticket linked to it"})
    subject_window_hours = database_int(metadata={
        "description": "1 to 720: a reply without thread headers or reference joins the requester's ticket with "
                       "the same subject if it was active this recently"})
    sender_rate_limit = database_int(metadata={
        "description": "0 to 10000 mails per sender and hour, beyond which acknowledgements stop; 0: no limit"})
    trusted_authserv_ids = ma.fields.List(ma.fields.String(), metadata={
        "description": "Host names (authserv-ids) of your receiving servers whose Authentication-Results headers "
                       "are trusted; headers of any other server are ignored, since senders can forge them"})
    dmarc_policy = ma.fields.String(metadata={
        "enum": ["flag", "quarantine"],
        "description": "Mail failing DMARC at a trusted server: flag the ticket, or quarantine the mail"})
    max_attachment_mb = database_int(metadata={
        "description": "1 to 100 (MiB): larger attachments are withheld, the mail still reaches its ticket"})
    blocked_attachment_types = ma.fields.List(ma.fields.String(), metadata={
        "description": "File extensions without the dot (letters and digits), e.g. [\"exe\", \"js\"]"})
    vip_senders = ma.fields.List(ma.fields.String(), metadata={
        "description": "Addresses, or whole domains as \"@example.com\": their tickets start at high priority "
                       "and skip routing rules"})


class _InboundPolicy(ma.fields.Nested):
    """Dumps the tenant's inbound policy columns as one object (the attachment limit in MB)."""

    def get_value(self, obj, attr, accessor=None, default=ma.missing):
        from app.settings.inbound import policy_of

        return policy_of(obj)


_INBOUND_DESCRIPTION = ("The inbound policy, as one object. PATCH any subset of its fields; field errors point "
                        "into it, e.g. #/inbound/max_attachment_mb. The other fields are not changed when one fails.")


class TenantSchema(Strict):
    id = ma.fields.Integer(dump_only=True)
    slug = ma.fields.String(dump_only=True)
    name = ma.fields.String()
    region = ma.fields.String(dump_only=True)
    default_locale = ma.fields.String()
    timezone = ma.fields.String()
    allow_plaintext = ma.fields.Boolean()
    allowed_sender_domains = ma.fields.List(ma.fields.String())
    allowed_mailbox_domains = ma.fields.List(ma.fields.String())
    failure_threshold = database_int()
    commlog_retention_days = database_int(metadata={"description": "Days the communication log is kept (7-3650)"})
    audit_retention_days = database_int(metadata={"description": "Days the audit log is kept (7-3650)"})
    inbound = _InboundPolicy(InboundPolicySchema, dump_only=True, metadata={"description": _INBOUND_DESCRIPTION})
    created_at = ma.fields.AwareDateTime(dump_only=True)


class TenantUpdateSchema(Strict):
    name = ma.fields.String()
    default_locale = ma.fields.String()
    timezone = ma.fields.String()
    allow_plaintext = ma.fields.Boolean()
    allowed_sender_domains = ma.fields.List(ma.fields.String())
    allowed_mailbox_domains = ma.fields.List(ma.fields.String())
    failure_threshold = database_int()
    commlog_retention_days = database_int()
    audit_retention_days = database_int()
    inbound = ma.fields.Nested(InboundPolicySchema, metadata={"description": _INBOUND_DESCRIPTION})


class SignupSchema(Strict):
    # Not required at this level: the service answers every missing field with its own, localized message.
    tenant_name = ma.fields.String(load_default="")
    slug = ma.fields.String(load_default="")
    name = ma.fields.String(load_default="")
    email = ma.fields.String(load_default="")
    password = ma.fields.String(load_default="", load_only=True)
    locale = ma.fields.String(load_default="en")
    timezone = ma.fields.String(load_default="UTC")
    region = ma.fields.String(load_default=None, allow_none=True)


class UserSchema(ma.Schema):
    id = ma.fields.Integer()
    email = ma.fields.String()
    name = ma.fields.String()


class SignupResultSchema(ma.Schema):
    tenant = ma.fields.Nested(TenantSchema)
    user = ma.fields.Nested(UserSchema)
    token = ma.fields.String(metadata={"description": "An API token for the new tenant; shown only once"})


class MemberSchema(ma.Schema):
    id = ma.fields.Integer()
    role = ma.fields.Function(lambda m: m.role.value)
    user = ma.fields.Nested(UserSchema)
    created_at = ma.fields.AwareDateTime()


class InvitationSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    email = ma.fields.String()
    role = ma.fields.Function(lambda i: i.role.value)
    created_at = ma.fields.AwareDateTime()
    expires_at = ma.fields.AwareDateTime()


class InvitationCreateSchema(Strict):
    email = ma.fields.String(load_default="")
    role = ma.fields.String(load_default="agent")


class InvitationCreatedSchema(InvitationSchema):
    link = ma.fields.String(metadata={"description": "The invitation link; shown only once"})


class TokenSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    prefix = ma.fields.String(metadata={"description": "The first characters, to recognize the token"})
    created_at = ma.fields.AwareDateTime()
    last_used_at = ma.fields.AwareDateTime(allow_none=True)


class TokenCreateSchema(Strict):
    name = ma.fields.String(load_default="")


class TokenCreatedSchema(TokenSchema):
    token = ma.fields.String(metadata={"description": "The token itself; shown only once"})


MemberPageSchema = page_schema(MemberSchema, "MemberPage")
InvitationPageSchema = page_schema(InvitationSchema, "InvitationPage")
TokenPageSchema = page_schema(TokenSchema, "TokenPage")

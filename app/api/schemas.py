"""Shapes of the API's resources. Validation rules live in the services; these only shape and document."""

from __future__ import annotations

import marshmallow as ma

from app.api.pagination import page_schema


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


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
    failure_threshold = ma.fields.Integer()
    created_at = ma.fields.AwareDateTime(dump_only=True)


class TenantUpdateSchema(Strict):
    name = ma.fields.String()
    default_locale = ma.fields.String()
    timezone = ma.fields.String()
    allow_plaintext = ma.fields.Boolean()
    allowed_sender_domains = ma.fields.List(ma.fields.String())
    allowed_mailbox_domains = ma.fields.List(ma.fields.String())
    failure_threshold = ma.fields.Integer()


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

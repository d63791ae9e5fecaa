"""Contacts (requesters of tickets): find them, and mark VIPs."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from app.api import rule_schemas as schemas
from app.api.auth import authenticate_token
from app.api.pagination import paginate
from app.api.ticket_schemas import ContactSchema
from app.contacts import services
from app.tickets.models import Contact

blp = Blueprint("api_contacts", __name__, url_prefix="/contacts", description="Requesters of tickets; VIPs")
blp.before_request(authenticate_token)


@blp.route("", methods=["GET"])
@blp.arguments(schemas.ContactArgsSchema, location="query")
@blp.response(200, schemas.ContactPageSchema)
def list_contacts(args: dict):
    """By address; ``q`` matches part of the address or name, ``vip`` filters VIPs."""
    return paginate(services.contact_query(g.tenant, q=args.pop("q"), vip=args.pop("vip")), **args)


@blp.route("/<int:contact_id>", methods=["PATCH"])
@blp.arguments(schemas.ContactUpdateSchema)
@blp.response(200, ContactSchema)
def update_contact(changes: dict, contact_id: int):
    """Only ``vip`` can be changed: a VIP's new tickets start at high priority and skip routing rules."""
    contact = Contact.get_by_id_and_tenant(contact_id, g.tenant)
    services.set_vip(contact, changes["vip"])
    return contact

"""Contacts (ticket requesters): finding them and marking VIPs."""

from __future__ import annotations

from sqlalchemy import Select, or_

from app.audit.services import record
from app.extensions import db
from app.tickets.models import Contact
from tenants.models import Tenant


def contact_query(tenant: Tenant, *, q: str | None = None, vip: bool | None = None) -> Select:
    """By address; ``q`` matches part of the address or name, ``vip`` keeps only VIPs (or only the others)."""
    query = Contact.all(tenant)
    if q and q.strip():
        escaped = q.strip()[:200].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        query = query.where(or_(Contact.email.ilike(like, escape="\\"), Contact.name.ilike(like, escape="\\")))
    if vip is not None:
        query = query.where(Contact.vip.is_(vip))
    return query.order_by(Contact.email, Contact.id)


def set_vip(contact: Contact, vip: bool) -> None:
    """Mark or unmark a VIP: their new tickets start at high priority and skip routing rules. Audited."""
    if contact.vip != vip:
        tenant = db.session.get(Tenant, contact.tenant_id)
        record(tenant, "contact.updated", object_type="contact", object_id=contact.id, label=contact.email,
               changes={"vip": [contact.vip, vip]})
        contact.vip = vip
    db.session.commit()

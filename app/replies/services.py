"""Reply templates: a tenant's canned replies, and filling their merge fields for one ticket.

Merge fields are a fixed set of ``{{ name }}`` placeholders replaced by a regular expression from a dict of plain
strings: nothing is evaluated, so a template can read nothing of the app but these values.
"""

from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select

from app.audit.services import diff, record
from app.auth import validation as v
from app.auth.models import User
from app.errors import FieldErrors, collect
from app.extensions import db
from app.replies.models import ReplyTemplate
from app.sql import equals_ignoring_case
from app.tickets.models import Ticket
from tenants.models import Tenant

NAME_MAX = 120
BODY_MAX = 20_000
# Anything between double braces is a placeholder: one that is not a merge field is refused when saved.
PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
MERGE_FIELDS = {
    "requester_name": _l("The requester's name (their address when the name is unknown)"),
    "requester_email": _l("The requester's address"),
    "ticket_reference": _l("The ticket's reference, e.g. ACME-12"),
    "ticket_subject": _l("The ticket's subject"),
    "agent_name": _l("Your name: the agent inserting the template"),
    "tenant_name": _l("Your organisation's name"),
}


def placeholder(name: str) -> str:
    return "{{ " + name + " }}"


def reply_templates(tenant: Tenant) -> list[ReplyTemplate]:
    return list(db.session.scalars(ReplyTemplate.all(tenant).order_by(ReplyTemplate.name)))


def unknown_fields(body: str) -> list[str]:
    """The placeholders of ``body`` that are not merge fields, each once, in order of appearance."""
    found = (match.group(1).strip() for match in PLACEHOLDER.finditer(body))
    return list(dict.fromkeys(name for name in found if name not in MERGE_FIELDS))


def _body_error(body: str) -> str | None:
    if not body:
        return _("This field is required.")
    if len(body) > BODY_MAX:
        return _("Use at most %(max)s characters.", max=BODY_MAX)
    unknown = unknown_fields(body)
    if unknown:
        names = ", ".join(placeholder(name[:40]) for name in unknown[:5])
        known = ", ".join(placeholder(name) for name in MERGE_FIELDS)
        return ngettext("Unknown merge field %(names)s. The merge fields are %(known)s.",
                        "Unknown merge fields %(names)s. The merge fields are %(known)s.",
                        len(unknown), names=names, known=known)
    return None


def _name_taken(tenant: Tenant, name: str, exclude_id: int | None = None) -> bool:
    query = select(ReplyTemplate.id).where(ReplyTemplate.tenant_id == tenant.id,
                                           equals_ignoring_case(ReplyTemplate.name, name.strip()))
    if exclude_id is not None:
        query = query.where(ReplyTemplate.id != exclude_id)
    return db.session.scalar(query) is not None


def _clean(body: str) -> str:
    return body.replace("\r\n", "\n").strip()  # browsers send CRLF from a textarea


def _check(tenant: Tenant, name: str, body: str, exclude_id: int | None = None) -> None:
    collect(name=v.name_error(name, NAME_MAX), body=_body_error(body))
    if _name_taken(tenant, name, exclude_id):
        raise FieldErrors({"name": _("A template with this name already exists.")})


def create_template(tenant: Tenant, *, name: str, body: str) -> ReplyTemplate:
    """Save a new template; raises ``FieldErrors`` (name, body) for a missing, too long or taken name, and for a
    missing or too long body or one with placeholders that are not merge fields."""
    body = _clean(body)
    _check(tenant, name, body)
    template = ReplyTemplate(tenant_id=tenant.id, name=name.strip(), body=body)
    db.session.add(template)
    db.session.flush()
    record(tenant, "reply_template.created", object_type="reply_template", object_id=template.id,
           label=template.name)
    db.session.commit()
    return template


def update_template(template: ReplyTemplate, *, name: str, body: str) -> None:
    """Change a template; refuses what ``create_template`` refuses. The audit log says the text changed, not how."""
    tenant = db.session.get(Tenant, template.tenant_id)
    body = _clean(body)
    _check(tenant, name, body, exclude_id=template.id)
    before = {"name": template.name, "body": template.body}
    template.name, template.body = name.strip(), body
    changes = diff(before, {"name": template.name, "body": template.body}, secrets=frozenset({"body"}))
    if changes:
        record(tenant, "reply_template.updated", object_type="reply_template", object_id=template.id,
               label=template.name, changes=changes)
    db.session.commit()


def delete_template(template: ReplyTemplate) -> None:
    tenant = db.session.get(Tenant, template.tenant_id)
    record(tenant, "reply_template.deleted", object_type="reply_template", object_id=template.id,
           label=template.name)
    db.session.delete(template)
    db.session.commit()


def merge_values(ticket: Ticket, agent: User) -> dict[str, str]:
    requester = ticket.requester
    tenant = db.session.get(Tenant, ticket.tenant_id)
    return {"requester_name": (requester.name or requester.email) if requester else "",
            "requester_email": requester.email if requester else "",
            "ticket_reference": ticket.reference, "ticket_subject": ticket.subject or "",
            "agent_name": agent.name or agent.email, "tenant_name": tenant.name}


def render(template: ReplyTemplate, ticket: Ticket, agent: User) -> str:
    """The template's text for ``ticket``, written by ``agent``: each merge field replaced by its value. Values are
    inserted as they are (never scanned for placeholders again); a placeholder that is no merge field stays."""
    values = merge_values(ticket, agent)
    return PLACEHOLDER.sub(lambda match: values.get(match.group(1).strip(), match.group(0)), template.body)


def append(draft: str, text: str) -> str:
    """``text`` after what the agent already wrote, a blank line between."""
    draft = draft.rstrip()
    return f"{draft}\n\n{text}" if draft else text

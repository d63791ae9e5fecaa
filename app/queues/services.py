"""Queues: a tenant's IT, HR, Facilities… Each mailbox address routes into one."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from app.audit.services import record
from app.auth import validation as v
from app.errors import FieldErrors, collect
from app.extensions import db
from app.queues.models import Queue
from app.sql import equals_ignoring_case
from tenants.models import Tenant

NAME_MAX = 80


def queues(tenant: Tenant) -> list[Queue]:
    return list(db.session.scalars(Queue.all(tenant).order_by(Queue.name)))


def _name_taken(tenant: Tenant, name: str, exclude_id: int | None = None) -> bool:
    query = select(Queue.id).where(Queue.tenant_id == tenant.id, equals_ignoring_case(Queue.name, name.strip()))
    if exclude_id is not None:
        query = query.where(Queue.id != exclude_id)
    return db.session.scalar(query) is not None


def _check(tenant: Tenant, name: str, description: str, exclude_id: int | None = None) -> None:
    collect(name=v.name_error(name, NAME_MAX),
            description=_("Use at most %(max)s characters.", max=500) if len(description) > 500 else None)
    if _name_taken(tenant, name, exclude_id):
        raise FieldErrors({"name": _("A queue with this name already exists.")})


def create_queue(tenant: Tenant, *, name: str, description: str = "") -> Queue:
    _check(tenant, name, description)
    queue = Queue(tenant_id=tenant.id, name=name.strip(), description=description.strip())
    db.session.add(queue)
    db.session.flush()
    record(tenant, "queue.created", object_type="queue", object_id=queue.id, label=queue.name)
    db.session.commit()
    return queue


def update_queue(queue: Queue, *, name: str, description: str = "") -> None:
    tenant = db.session.get(Tenant, queue.tenant_id)
    _check(tenant, name, description, exclude_id=queue.id)
    before = {"name": queue.name, "description": queue.description}
    queue.name, queue.description = name.strip(), description.strip()
    changes = {k: [before[k], getattr(queue, k)] for k in before if before[k] != getattr(queue, k)}
    if changes:
        record(tenant, "queue.updated", object_type="queue", object_id=queue.id, label=queue.name, changes=changes)
    db.session.commit()


def delete_queue(queue: Queue) -> None:
    """Delete a queue; mailboxes and aliases routed to it fall back to no queue (set null), nothing else is lost."""
    tenant = db.session.get(Tenant, queue.tenant_id)
    record(tenant, "queue.deleted", object_type="queue", object_id=queue.id, label=queue.name)
    db.session.delete(queue)
    db.session.commit()

"""A tenant watched by alert rules, a webhook endpoint listening to alerts, and ways to make its conditions hold."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from sqlalchemy import select

_uids = itertools.count(1)
REFUSED = "NO [AUTHENTICATIONFAILED] Authentication failed."


@dataclass
class Notices:
    """The alert mails (outbox rows, by event) and webhook deliveries (by event) of a tenant, oldest first."""

    mails: list[str]
    hooks: list[str]


@pytest.fixture
def acme(db, create_tenant, add_member):
    from tenants.models import Role

    tenant = create_tenant("acme")
    tenant.admin = add_member(tenant, Role.ADMIN, name="Ada Admin")
    return tenant


@pytest.fixture
def listening(db, acme, receiver):
    """An endpoint of acme's that subscribed to both alert events."""
    from app.webhooks.endpoints import create_endpoint

    endpoint, _secret = create_endpoint(acme, url=receiver.url, events=["alert.opened", "alert.resolved"])
    db.session.commit()
    return endpoint


@pytest.fixture
def notices(db):
    from app.outbound.models import OutgoingMail
    from app.webhooks.models import WebhookDelivery

    def read(tenant) -> Notices:
        mails = db.session.scalars(select(OutgoingMail.event).where(OutgoingMail.tenant_id == tenant.id)
                                   .order_by(OutgoingMail.id))
        hooks = db.session.scalars(select(WebhookDelivery.event).where(WebhookDelivery.tenant_id == tenant.id)
                                   .order_by(WebhookDelivery.id))
        return Notices(list(mails), list(hooks))

    return read


@pytest.fixture
def evaluate(db):
    """One periodic evaluation of the tenant, committed as the job commits it."""
    from app.alerts.services import evaluate as run

    def go(tenant, *kinds: str) -> dict:
        outcome = run(tenant, kinds) if kinds else run(tenant)
        db.session.commit()
        return outcome

    return go


def attempt(mailbox, ok: bool):
    from app.connections.models import ConnectionKind
    from app.connections.services import record_attempt
    from app.mail.steps import StepResult

    result = StepResult("login", ok, 12.0, None if ok else "auth_failed", {}, None if ok else REFUSED)
    return record_attempt(mailbox, ConnectionKind.SYNC, "inbound", [result])


def receipt(tenant, mailbox, at, *, status: str = "ingested", processed_at=None):
    from app.extensions import db
    from app.inbound.models import Receipt

    row = Receipt(tenant_id=tenant.id, mailbox_id=mailbox.id, folder="INBOX", uidvalidity=1, uid=next(_uids),
                  sha256=f"{next(_uids):064d}", size=100, status=status, received_at=at, processed_at=processed_at)
    db.session.add(row)
    return row

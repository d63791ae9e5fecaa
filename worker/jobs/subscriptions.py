"""Provider push subscriptions (Graph, Gmail watch): made, renewed a day before they end, and taken down."""

from __future__ import annotations

from app.extensions import db
from app.mailboxes.models import Mailbox
from worker.jobs import job


@job
def renew_push_subscriptions(region: str) -> int:
    from app.hooks.subscriptions import due_mailbox_ids, keep_subscribed

    ids = due_mailbox_ids(region)
    for mailbox_id in ids:
        mailbox = db.session.get(Mailbox, mailbox_id)
        if mailbox is not None:
            keep_subscribed(mailbox)
    return len(ids)

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


@job
def subscribe_mailbox(mailbox_id: int) -> bool:
    """Right after a mailbox is connected through OAuth: its push subscription now, not at the next round."""
    from app.hooks.subscriptions import keep_subscribed

    mailbox = db.session.get(Mailbox, mailbox_id)
    return mailbox is not None and keep_subscribed(mailbox) is not None

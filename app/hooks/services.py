"""Who may poke a mailbox: signed, stateless references, checked before anything happens.

- A generic poke URL per mailbox (``/hooks/poke/<token>``): the token signs (tenant id, mailbox id) with the app's
  secret; a mail server calls it on delivery.
- Microsoft Graph change notifications: the subscription's ``clientState`` is ``m<mailbox id>.<HMAC>``, so a
  notification names its mailbox and proves it came from a subscription we made, without a table of them.

Every refusal has a reason, logged and counted in Redis (``postroom:hooks:refused:<reason>``), and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer

from app import metrics
from app.extensions import db
from app.mailboxes.models import Mailbox, MailboxStatus
from tenants.models import Tenant

COUNTER = "postroom:hooks:refused:{reason}"
POKEABLE = (MailboxStatus.ACTIVE, MailboxStatus.FAILING)


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="mailbox.poke")


def poke_token(mailbox: Mailbox) -> str:
    return _serializer().dumps([mailbox.tenant_id, mailbox.id])


def mailbox_for_token(token: str) -> Mailbox:
    try:
        tenant_id, mailbox_id = _serializer().loads(token[:200])
    except (BadData, ValueError, TypeError):
        raise Refused("bad_signature") from None
    return _pokeable(tenant_id, mailbox_id)


def graph_client_state(mailbox: Mailbox) -> str:
    return f"m{mailbox.id}.{_mac(f'graph:{mailbox.tenant_id}:{mailbox.id}')}"


def mailbox_for_client_state(state: object) -> Mailbox:
    if not isinstance(state, str) or not state.startswith("m") or "." not in state:
        raise Refused("bad_client_state")
    number, _, mac = state[1:].partition(".")
    if not number.isdigit() or len(number) > 12:
        raise Refused("bad_client_state")
    mailbox = db.session.get(Mailbox, int(number))
    if mailbox is None or not hmac.compare_digest(mac, _mac(f"graph:{mailbox.tenant_id}:{mailbox.id}")):
        raise Refused("bad_client_state")
    return _pokeable(mailbox.tenant_id, mailbox.id)


def _mac(text: str) -> str:
    return hmac.new(current_app.secret_key.encode(), text.encode(), hashlib.sha256).hexdigest()[:32]


def _pokeable(tenant_id: int, mailbox_id: int) -> Mailbox:
    mailbox = db.session.get(Mailbox, mailbox_id)
    if mailbox is None or mailbox.tenant_id != tenant_id or db.session.get(Tenant, tenant_id) is None:
        raise Refused("unknown_mailbox")
    if mailbox.status not in POKEABLE:
        raise Refused("mailbox_not_syncing")
    return mailbox


def sync_now(mailbox: Mailbox) -> str:
    from app.inbound.services import start_sync

    return start_sync(mailbox).id


def count_refusal(reason: str) -> None:
    from tenants.queues import _redis

    current_app.logger.warning("hook refused", extra={"reason": reason})
    metrics.count_hook_refusal(reason)
    try:
        _redis(current_app.config["REDIS_URL"]).incr(COUNTER.format(reason=reason))
    except Exception:  # counting must not turn a refusal into a 500
        current_app.logger.warning("hook refusal not counted", exc_info=True)

"""What each alert rule looks at. A check returns the subjects its condition holds for right now, each with what
was found; ``app.alerts.services`` opens and resolves alerts from that.

"Longer than usual" (``mailbox_silent``): a mailbox's usual silence is the longest stretch without mail in the 14
days before its latest mail, measured between the hours that had mail. A median or a percentile of the gaps between
mails would be minutes for a busy business mailbox and would ring every night; the longest gap of two weeks already
holds the nights and the weekend that mailbox knows. The alert rings when the current silence exceeds both 1.5 times
that (a long weekend stays quiet) and the rule's minimum of N hours. Only mailboxes that normally receive mail are
watched: mail on at least 7 days of those 14, the first at least 7 days before the latest (a weekend was seen).
Mail is looked for over the last 28 days: a mailbox silent for longer no longer counts as one that receives mail.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from sqlalchemy import func, select

from app.connections.models import ConnectionLog
from app.extensions import db
from app.health.services import outbox_counts
from app.inbound.models import Receipt, ReceiptStatus
from app.mailboxes.models import Mailbox, MailboxStatus
from app.oauth.models import GrantStatus, OAuthApp, OAuthGrant
from app.sql import hour_of
from tenants.models import Tenant, utcnow

HISTORY = timedelta(days=14)
MIN_HISTORY = timedelta(days=7)
MIN_DAYS_WITH_MAIL = 7
SILENCE_FACTOR = 1.5


@dataclass(frozen=True)
class Finding:
    label: str  # what it concerns, as people know it (a mailbox's address…)
    detail: dict = field(default_factory=dict)  # the figures, plain JSON


def mailbox_failing(tenant: Tenant, threshold: int, mailbox_ids: Iterable[int] | None = None) -> dict[str, Finding]:
    """Mailboxes that failed ``threshold`` times in a row or more (paused ones are left alone)."""
    query = Mailbox.all(tenant).where(Mailbox.failure_streak >= threshold, Mailbox.status != MailboxStatus.PAUSED)
    if mailbox_ids is not None:
        query = query.where(Mailbox.id.in_(list(mailbox_ids)))
    mailboxes = list(db.session.scalars(query))
    reasons = _last_errors(tenant, [mailbox.id for mailbox in mailboxes])
    return {f"mailbox:{m.id}": Finding(m.address, {
        "mailbox_id": m.id, "mailbox_name": m.name, "mailbox_address": m.address, "failures": m.failure_streak,
        "category": m.last_failure_category, "reason": reasons.get(m.id, m.last_failure_category or "")})
        for m in mailboxes}


def _last_errors(tenant: Tenant, mailbox_ids: list[int]) -> dict[int, str]:
    """Each mailbox's latest failed attempt as "category: server response" (the mail quotes it)."""
    if not mailbox_ids:
        return {}
    latest = (select(func.max(ConnectionLog.id)).where(
        ConnectionLog.tenant_id == tenant.id, ConnectionLog.mailbox_id.in_(mailbox_ids), ConnectionLog.ok.is_(False))
        .group_by(ConnectionLog.mailbox_id))
    rows = db.session.execute(select(ConnectionLog.mailbox_id, ConnectionLog.category, ConnectionLog.server_response)
                              .where(ConnectionLog.id.in_(latest)))
    return {row.mailbox_id: f"{row.category or ''}: {row.server_response or ''}".strip(": ") for row in rows}


def mailbox_silent(tenant: Tenant, hours: int) -> dict[str, Finding]:
    """Mailboxes that normally receive mail and have not for longer than usual (the module's docstring)."""
    now = utcnow()
    since = now - 2 * HISTORY
    hour = hour_of(Receipt.received_at)
    active: dict[int, set[datetime]] = defaultdict(set)
    for mailbox_id, bucket in db.session.execute(
            select(Receipt.mailbox_id, hour).where(Receipt.tenant_id == tenant.id, Receipt.received_at >= since)
            .group_by(Receipt.mailbox_id, hour)):
        active[mailbox_id].add(_as_datetime(bucket))
    last = dict(db.session.execute(
        select(Receipt.mailbox_id, func.max(Receipt.received_at)).where(
            Receipt.tenant_id == tenant.id, Receipt.received_at >= since).group_by(Receipt.mailbox_id)).all())
    found = {}
    for mailbox in db.session.scalars(Mailbox.all(tenant).where(Mailbox.id.in_(list(active)),
                                                                Mailbox.status != MailboxStatus.PAUSED)):
        last_mail = _as_datetime(last[mailbox.id])
        usual = usual_silence({hour for hour in active[mailbox.id] if hour >= last_mail - HISTORY}, last_mail)
        if usual is None or now - last_mail <= max(timedelta(hours=hours), SILENCE_FACTOR * usual):
            continue
        found[f"mailbox:{mailbox.id}"] = Finding(mailbox.address, {
            "mailbox_id": mailbox.id, "mailbox_name": mailbox.name, "mailbox_address": mailbox.address,
            "last_received_at": last_mail.isoformat(), "usual_silence_hours": round(usual.total_seconds() / 3600, 1)})
    return found


def usual_silence(hours_with_mail: Iterable[datetime], latest: datetime) -> timedelta | None:
    """The longest time between two hours with mail, or None when the history is too short to say what is usual
    (mail on fewer than 7 days, or none at least 7 days before ``latest``)."""
    hours = sorted(hours_with_mail)
    if len({hour.date() for hour in hours}) < MIN_DAYS_WITH_MAIL or hours[0] > latest - MIN_HISTORY:
        return None
    return max(later - earlier for earlier, later in pairwise(hours))


def outbox_backlog(tenant: Tenant, threshold: int) -> dict[str, Finding]:
    """More than ``threshold`` mails waiting to be sent: queued for a first try, or being retried."""
    counts = outbox_counts(tenant)
    waiting = counts["pending"] + counts["retrying"]
    if waiting <= threshold:
        return {}
    return {"outbox": Finding("", {"waiting": waiting, "pending": counts["pending"], "retrying": counts["retrying"],
                                   "threshold": threshold})}


def quarantine_growing(tenant: Tenant, threshold: int) -> dict[str, Finding]:
    """``threshold`` or more messages quarantined (and still held) in the last hour."""
    count = db.session.scalar(select(func.count()).select_from(Receipt).where(
        Receipt.tenant_id == tenant.id, Receipt.status == ReceiptStatus.QUARANTINED,
        Receipt.processed_at >= utcnow() - timedelta(hours=1))) or 0
    if count < threshold:
        return {}
    return {"quarantine": Finding("", {"count": count, "threshold": threshold})}


def oauth_expiring(tenant: Tenant, days: int) -> dict[str, Finding]:
    """Active grants whose refresh token, and the tenant's own OAuth apps whose client secret, expire within
    ``days`` days. A grant that stops being active is reported by its mailboxes (re-connect), not here."""
    horizon = utcnow() + timedelta(days=days)
    grants = db.session.scalars(OAuthGrant.all(tenant).where(
        OAuthGrant.status == GrantStatus.ACTIVE, OAuthGrant.refresh_expires_at.is_not(None),
        OAuthGrant.refresh_expires_at <= horizon))
    found = {f"grant:{grant.id}": Finding(grant.email, {
        "provider": grant.provider, "account": grant.email, "expires_at": grant.refresh_expires_at.isoformat()})
        for grant in grants}
    apps = db.session.scalars(OAuthApp.all(tenant).where(OAuthApp.secret_expires_on.is_not(None),
                                                           OAuthApp.secret_expires_on <= horizon.date()))
    found.update({f"oauth_app:{app.id}": Finding(app.provider, {
        "provider": app.provider, "expires_on": app.secret_expires_on.isoformat()}) for app in apps})
    return found


CHECKS: dict[str, Callable[[Tenant, int], dict[str, Finding]]] = {
    "mailbox_failing": mailbox_failing, "mailbox_silent": mailbox_silent, "outbox_backlog": outbox_backlog,
    "quarantine_growing": quarantine_growing, "oauth_expiring": oauth_expiring}


def _as_datetime(value: object) -> datetime:
    """PostgreSQL gives datetimes, SQLite's ``strftime`` text; both are UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)

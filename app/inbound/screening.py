"""What the pipeline decides about a parsed mail before it touches a ticket: loops and noise, bounces, sender
authenticity, whether the sender may open tickets, and which attachments are withheld."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from app.bulk import among
from app.extensions import db
from app.mail.authres import dmarc_failed, read_authentication_results
from app.mail.automatic import classify_automatic
from app.mail.dsn import Bounce, parse_bounce
from app.mail.parse import Attachment, Parsed
from app.mail.parse_prescan import Limits
from app.tickets.models import Direction, Message
from tenants.models import Tenant, utcnow


@dataclass
class Screening:
    automatic_reason: str | None = None
    bounce: Bounce | None = None
    authenticity: dict = field(default_factory=dict)
    dmarc_failed: bool = False


def parse_limits(tenant: Tenant) -> Limits:
    """Per-tenant size limit on top of the safe structural defaults; a whole message may carry a few attachments."""
    default = Limits()
    return Limits(max_bytes=max(default.max_bytes, tenant.max_attachment_bytes * 2))


def screen(tenant: Tenant, raw: bytes, parsed: Parsed) -> Screening:
    from app.outbound.message_ids import is_ours

    own = (current_app.config["MESSAGE_ID_DOMAIN"],)
    result = Screening(automatic_reason=classify_automatic(parsed, own_domains=own, is_own=is_ours))
    if result.automatic_reason in ("dsn", "mailer_daemon") or _looks_like_report(parsed):
        result.bounce = parse_bounce(raw, parsed)
    result.authenticity = read_authentication_results(parsed.loop_headers.get("Authentication-Results", []),
                                                      tenant.trusted_authserv_ids or [])
    result.dmarc_failed = dmarc_failed(result.authenticity)
    return result


def _looks_like_report(parsed: Parsed) -> bool:
    return any(a.content_type in ("message/delivery-status", "message/global-delivery-status")
               for a in parsed.attachments)


def sender_may_open_tickets(tenant: Tenant, address: str) -> bool:
    """``allowed_sender_domains`` empty means everyone; subdomains of an allowed domain are allowed too."""
    allowed = [d.strip().lower().lstrip("@") for d in tenant.allowed_sender_domains or [] if d.strip()]
    if not allowed:
        return True
    domain = address.rpartition("@")[2].lower()
    return any(domain == d or domain.endswith("." + d) for d in allowed)


class SenderRates:
    """Inbound mail per sender in the last hour: read once for a batch, then counted on as the batch adds mail.

    A sender over the tenant's limit stops getting acknowledgements (a human-looking loop or a flood)."""

    def __init__(self, tenant: Tenant, senders: set[str]) -> None:
        self.limit = tenant.sender_rate_limit
        self.counts: Counter[str] = Counter()
        if self.limit > 0 and senders:
            since = utcnow() - timedelta(hours=1)
            self.counts.update(dict(db.session.execute(
                select(Message.from_address, func.count(Message.id)).where(
                    Message.tenant_id == tenant.id, among(Message.from_address, senders),
                    Message.direction == Direction.INBOUND, Message.created_at >= since)
                .group_by(Message.from_address)).all()))

    def add(self, address: str) -> None:
        self.counts[address.lower()] += 1

    def over(self, address: str) -> bool:
        """Whether ``address`` is over the limit, counting the mail just added."""
        return bool(address) and self.limit > 0 and self.counts[address.lower()] > self.limit


def withheld_reason(tenant: Tenant, attachment: Attachment) -> str | None:
    if attachment.size > tenant.max_attachment_bytes:
        return "too_large"
    extension = attachment.filename.rpartition(".")[2].lower() if "." in attachment.filename else ""
    blocked = {b.strip().lower().lstrip(".") for b in tenant.blocked_attachment_types or []}
    if extension and extension in blocked:
        return "blocked_type"
    return None

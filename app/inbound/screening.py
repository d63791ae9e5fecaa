"""What the pipeline decides about a parsed mail before it touches a ticket: loops and noise, bounces, sender
authenticity, whether the sender may open tickets, and which attachments are withheld."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

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
    own = (current_app.config["MESSAGE_ID_DOMAIN"],)
    result = Screening(automatic_reason=classify_automatic(parsed, own_domains=own))
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


def over_sender_rate(tenant: Tenant, address: str) -> bool:
    """More inbound mail from this sender in the last hour than the tenant allows: stop acknowledging it."""
    if not address or tenant.sender_rate_limit <= 0:
        return False
    since = utcnow() - timedelta(hours=1)
    count = db.session.scalar(select(func.count(Message.id)).where(
        Message.tenant_id == tenant.id, Message.from_address == address.lower(),
        Message.direction == Direction.INBOUND, Message.created_at >= since))
    return count > tenant.sender_rate_limit  # this mail is already counted


def withheld_reason(tenant: Tenant, attachment: Attachment) -> str | None:
    if attachment.size > tenant.max_attachment_bytes:
        return "too_large"
    extension = attachment.filename.rpartition(".")[2].lower() if "." in attachment.filename else ""
    blocked = {b.strip().lower().lstrip(".") for b in tenant.blocked_attachment_types or []}
    if extension and extension in blocked:
        return "blocked_type"
    return None

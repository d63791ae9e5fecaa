"""Routing a new ticket: the address it was sent to picks the queue; tenant rules and VIP senders adjust it.

Every decision comes back as a list of timeline entries, so agents can see why a ticket is where it is.

Inside ``routing_snapshot()`` (ingestion wraps each batch of mail in one) a tenant's aliases, mailbox addresses and
active rules are read once, as plain values that outlive the batch's commits; they are read again as soon as this
session itself changes any of them. Outside it, every routing reads them afresh.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import regex
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.mail.parse import Parsed
from app.mailboxes.models import Mailbox, MailboxAlias
from app.routing.models import RoutingRule
from app.tickets.models import Contact, Priority
from tenants.models import Tenant

RULE_TIMEOUT = 0.05  # seconds per rule and message: a tenant's regex must not stall the pipeline
MAX_RULE_TEXT = 100_000


@dataclass
class Route:
    queue_id: int | None = None
    category: str | None = None
    priority: Priority = Priority.NORMAL
    vip: bool = False
    decisions: list[tuple[str, dict]] = field(default_factory=list)  # (event kind, detail)


@functools.lru_cache(maxsize=1024)  # routing matches every active rule against every message
def compile_pattern(pattern: str) -> regex.Pattern:
    """Raises ``regex.error`` for a bad pattern (forms show it next to the field). Compiled patterns are immutable,
    so a cached one is safe to share; the time limit is per search (``RULE_TIMEOUT``), not part of the pattern."""
    return regex.compile(pattern, regex.IGNORECASE | regex.VERSION0)


def _recipient_addresses(parsed: Parsed) -> list[tuple[str, str]]:
    """(header, address) in the order that best says where the mail was delivered."""
    found: list[tuple[str, str]] = []
    for header in ("Delivered-To", "X-Original-To"):
        for value in parsed.loop_headers.get(header, []):
            found.append((header, value.strip().strip("<>").lower()))
    found += [("To", address.lower()) for _name, address in parsed.to]
    found += [("Cc", address.lower()) for _name, address in parsed.cc]
    return [(header, address) for header, address in found if "@" in address]


@dataclass(frozen=True)
class _Rule:
    """What routing reads of a ``RoutingRule``."""

    id: int
    name: str
    field: str
    pattern: str
    queue_id: int | None
    category: str | None
    priority: str | None
    stop: bool


@dataclass
class _Table:
    aliases: dict[str, int | None]  # address as stored -> its queue, else its mailbox's default queue
    mailboxes: dict[str, int | None]  # address as stored -> the mailbox's default queue
    rules: list[_Rule]  # active ones, in order


_SNAPSHOT = "postroom_routing_snapshot"


@contextmanager
def routing_snapshot() -> Iterator[None]:
    """Route everything inside against one reading of each tenant's aliases, mailboxes and rules (a batch)."""
    previous = db.session.info.get(_SNAPSHOT)
    db.session.info[_SNAPSHOT] = {}
    try:
        yield
    finally:
        if previous is None:
            db.session.info.pop(_SNAPSHOT, None)
        else:
            db.session.info[_SNAPSHOT] = previous


def _table(tenant: Tenant) -> _Table:
    snapshot = db.session.info.get(_SNAPSHOT)
    if snapshot is None:
        return _read_table(tenant)
    if tenant.id not in snapshot:
        snapshot[tenant.id] = _read_table(tenant)
    return snapshot[tenant.id]


def _read_table(tenant: Tenant) -> _Table:
    aliases = db.session.execute(
        select(MailboxAlias.address, MailboxAlias.queue_id, Mailbox.default_queue_id)
        .join(Mailbox, Mailbox.id == MailboxAlias.mailbox_id).where(MailboxAlias.tenant_id == tenant.id))
    mailboxes = db.session.execute(select(Mailbox.address, Mailbox.default_queue_id)
                                   .where(Mailbox.tenant_id == tenant.id))
    rules = db.session.scalars(select(RoutingRule).where(RoutingRule.tenant_id == tenant.id, RoutingRule.active)
                               .order_by(RoutingRule.position, RoutingRule.id))
    return _Table(aliases={address: queue_id or default for address, queue_id, default in aliases},
                  mailboxes=dict(mailboxes.all()),
                  rules=[_Rule(r.id, r.name, r.field, r.pattern, r.queue_id, r.category, r.priority, r.stop)
                         for r in rules])


@event.listens_for(Session, "after_flush")
def _forget_changed_tables(session: Session, _context) -> None:
    if session.info.get(_SNAPSHOT) and any(isinstance(obj, (MailboxAlias, Mailbox, RoutingRule))
                                           for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info[_SNAPSHOT] = {}


def _queue_by_address(tenant: Tenant, mailbox: Mailbox, parsed: Parsed, route: Route) -> None:
    addresses = _recipient_addresses(parsed)
    wanted = {address for _h, address in addresses}
    table = _table(tenant)
    # Exact matches on the stored address, as an SQL "address IN (...)" would find them.
    aliases = {stored.lower(): queue_id for stored, queue_id in table.aliases.items() if stored in wanted}
    mailboxes = {stored.lower(): queue_id for stored, queue_id in table.mailboxes.items() if stored in wanted}
    for header, address in addresses:
        if address in aliases:
            route.queue_id = aliases[address]
            route.decisions.append(("routed", {"by": "alias", "header": header, "address": address,
                                               "queue_id": route.queue_id}))
            return
        if address in mailboxes:
            route.queue_id = mailboxes[address]
            route.decisions.append(("routed", {"by": "mailbox", "header": header, "address": address,
                                               "queue_id": route.queue_id}))
            return
    route.queue_id = mailbox.default_queue_id
    route.decisions.append(("routed", {"by": "receiving_mailbox", "address": mailbox.address,
                                       "queue_id": route.queue_id}))


def is_vip(tenant: Tenant, contact: Contact | None, sender: str) -> bool:
    sender = sender.lower()
    domain = "@" + sender.rpartition("@")[2]
    listed = {entry.strip().lower() for entry in tenant.vip_senders or []}
    return bool(contact and contact.vip) or sender in listed or domain in listed


def rule_texts(subject: str, body: str, name: str, address: str) -> dict[str, str]:
    """What a rule on each field searches (the portal's rule tester uses the same)."""
    sender = f"{name} <{address}>"
    body = body[:MAX_RULE_TEXT]
    return {"subject": subject, "body": body, "sender": sender, "any": "\n".join((subject, sender, body))}


def _apply_rules(tenant: Tenant, parsed: Parsed, route: Route) -> None:
    rules = _table(tenant).rules
    texts = rule_texts(parsed.subject, parsed.text or parsed.html_sanitized or "", *parsed.from_) if rules else {}
    for rule in rules:
        try:
            matched = compile_pattern(rule.pattern).search(texts.get(rule.field, texts["any"]), timeout=RULE_TIMEOUT)
        except (regex.error, TimeoutError) as error:
            route.decisions.append(("rule_error", {"rule_id": rule.id, "rule": rule.name,
                                                   "error": type(error).__name__}))
            continue
        if matched is None:
            continue
        if rule.queue_id is not None:
            route.queue_id = rule.queue_id
        if rule.category:
            route.category = rule.category
        if rule.priority:
            route.priority = Priority(rule.priority)
        route.decisions.append(("rule_matched", {"rule_id": rule.id, "rule": rule.name, "field": rule.field,
                                                 "matched": matched.group(0)[:80], "queue_id": rule.queue_id,
                                                 "category": rule.category, "priority": rule.priority}))
        if rule.stop:
            break


def route_new_ticket(tenant: Tenant, mailbox: Mailbox, parsed: Parsed, contact: Contact | None) -> Route:
    route = Route()
    _queue_by_address(tenant, mailbox, parsed, route)
    if is_vip(tenant, contact, parsed.from_[1]):
        # VIPs skip automation: no rule reroutes or re-prioritizes them, and they start at high priority.
        route.vip = True
        route.priority = Priority.HIGH
        route.decisions.append(("vip", {"sender": parsed.from_[1].lower(), "priority": route.priority.value}))
        return route
    _apply_rules(tenant, parsed, route)
    return route

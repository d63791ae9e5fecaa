"""The agent-inbox benchmark's data set: two tenants of tickets, messages, events and read markers, written by COPY.

The bench tenant: 5 agents, 5 queues, 20,000 requesters (a fortieth of them open a fifth of the tickets), 100,000
tickets over 90 days with 1 to 8 messages each (400,000 in all) of 0.5 to 4 kB text, about two timeline events per
message, and read markers for the assigned agents. A second tenant a tenth of the size shares the words. Same seed,
same rows (the timestamps are relative to the run).
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import secrets
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy.engine import make_url

from bench.harness import Context

TICKETS, REQUESTERS, PRODUCTS, OTHER_SHARE = 100_000, 20_000, 4_000, 0.1
MESSAGES_PER_TICKET = 4  # 1 to 8
DAYS, AGENTS = 90, 5
COMMON_WORD = "please"
PASSWORD = secrets.token_urlsafe(16)  # the agents' password, new every run
QUEUES = [("Support", 45), ("Billing", 20), ("Sales", 15), ("IT", 12), ("Returns", 3)]  # and 5% without a queue
PRIORITIES = [("low", 15), ("normal", 65), ("high", 15), ("urgent", 5)]
_COMMON = ["the", "i", "to", "and", "a", "you", "of", "is", "it", "for", "please", "my", "on", "this", "that", "we",
           "in", "not", "have", "can", "with", "be", "our", "was", "but", "thanks", "order", "invoice", "account",
           "login", "password", "printer", "email", "error", "since", "again", "help", "team", "could", "would",
           "problem", "issue", "today", "yesterday", "still", "works", "working", "after", "update", "screen", "phone",
           "number", "delivery", "refund", "payment", "office", "home", "network", "access", "report", "attached",
           "customer", "support", "contract", "price", "quote", "monthly"]
_SYLLABLES = ["ka", "lo", "mi", "ren", "tas", "vor", "zel", "pri", "dun", "sho", "bel", "gar", "nix", "ost", "qua",
              "ril", "sem", "tur", "vin", "wex"]
_TOPICS = ["VPN does not connect", "Invoice {n} looks wrong", "Password reset", "Order #{n} has not arrived",
           "Refund for order #{n}", "Cannot log in", "Question about pricing", "Printer on floor {n} jammed",
           "Shared drive is read-only", "Delivery damaged", "License renewal quote", "Payroll export fails"]
_NAMES = ["Ann Lee", "Ben Meyer", "Chloé García", "David Smith", "Emma Dubois", "François Kowalski",
          "Grace Tanaka", "Hiro Rossi", "Ines Novak", "Jürgen Jensen", "Kate Silva", "Liam Brown"]
_STATUS_BY_AGE = [(3, [55, 30, 10, 5]), (14, [15, 20, 30, 35]), (None, [3, 4, 18, 75])]  # open pending resolved closed
_STATUSES = ["open", "pending", "resolved", "closed"]




@dataclass
class _Plan:
    id: int
    number: int
    requester: int
    queue_id: int | None
    assignee_id: int | None
    status: str
    priority: str
    subject: str
    product: str
    times: list[datetime]


class _Words:
    """Sentences drawn from a Zipf-weighted vocabulary, and product words that occur nowhere else."""

    def __init__(self, rng: random.Random, products: int) -> None:
        tail = [a + b for a in _SYLLABLES for b in _SYLLABLES] + ["".join(rng.sample(_SYLLABLES, 3))
                                                                  for _ in range(3_000)]
        vocabulary = list(dict.fromkeys(_COMMON + tail))
        weights = [1 / rank for rank in range(1, len(vocabulary) + 1)]
        self.sentences = []
        for _ in range(5_000):
            words = rng.choices(vocabulary, weights, k=rng.randint(5, 16))
            self.sentences.append(" ".join(words).capitalize() + ".")
        self.mean = statistics.fmean(len(s) + 1 for s in self.sentences)
        known = set(vocabulary)
        self.products = sorted({w for w in ("".join(rng.choices(_SYLLABLES, k=4)) for _ in range(products * 2))
                                if w not in known})[:products]

    def body(self, rng: random.Random, opening: str, closing: str, product: str | None) -> str:
        size = math.exp(rng.uniform(math.log(500), math.log(4_000)))  # 0.5 to 4 kB, log-uniform
        middle = " ".join(rng.choices(self.sentences, k=max(1, round(size / self.mean) - 2)))
        about = f"\n\nThis is about our {product} subscription, reference {rng.randrange(10**6, 10**7)}." \
            if product else ""
        return f"{opening}\n\n{middle}{about}\n\n{closing}"



def load(ctx: Context) -> dict:
    """Both tenants loaded and indexed; what the measuring needs of the bench tenant, and the load's figures."""
    rng = random.Random(20261124)
    tickets = ctx.scaled(TICKETS)
    words = _Words(rng, max(10, ctx.scaled(PRODUCTS)))
    tenants = _accounts(ctx)
    url = make_url(ctx.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    now, ids = datetime.now(UTC), {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        indexes = _drop_indexes(conn)
        timings = {}
        with _timed(timings, "generate and COPY"):
            bench = _fill(conn, rng, words, tenants["bench"], tickets, now, ids)
            _fill(conn, rng, words, tenants["other"], max(1, round(tickets * OTHER_SHARE)), now, ids)
            for table in ids:
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {ids[table]})")
        timings["build indexes"] = 0.0  # listed before its part
        with _timed(timings, "build indexes"):
            for definition in indexes:
                with _timed(timings, "of which the full-text index" if "gin" in definition.lower() else "-"):
                    conn.execute(definition)
        timings.pop("-", None)
        with _timed(timings, "VACUUM ANALYZE"):
            conn.execute("VACUUM ANALYZE")
        sizes = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('messages')), "
                             "pg_size_pretty(pg_database_size(current_database()))").fetchone()
        common = conn.execute(f"SELECT count(DISTINCT ticket_id) FROM messages WHERE tenant_id = %s AND "  # noqa: S608
                              f"{_document()} @@ plainto_tsquery('simple', %s)",  # the indexed column, no input
                              (tenants["bench"]["id"], COMMON_WORD)).fetchone()[0]
    return {**tenants["bench"], **bench, "words": words, "counts": ids, "timings": timings, "sizes": sizes,
            "common_tickets": common}


def _document() -> str:
    from app.tickets.search import DOCUMENT

    return DOCUMENT


def _accounts(ctx: Context) -> dict[str, dict]:
    """Both tenants with their agents and queues, through the ORM (a handful of rows)."""
    from app.auth.models import User
    from app.extensions import db
    from app.queues.models import Queue
    from tenants.models import Membership, Role, Tenant

    out = {}
    with ctx.app.app_context():
        for slug, agents in (("bench", AGENTS), ("other", 2)):
            tenant = Tenant(slug=f"bench-{slug}" if slug == "other" else slug, name=slug.title(),
                            region="default", ticket_prefix=slug.upper())
            users = [User(email=f"agent{n}@{slug}.bench.test", name=f"{_NAMES[n]} ({slug})") for n in range(agents)]
            for user in users:
                user.set_password(PASSWORD)
                db.session.add(Membership(tenant=tenant, user=user, role=Role.AGENT))
            db.session.add(tenant)
            db.session.flush()
            queues = [Queue(tenant_id=tenant.id, name=name) for name, _weight in QUEUES]
            db.session.add_all(queues)
            db.session.commit()
            out[slug] = {"id": tenant.id, "slug": tenant.slug, "prefix": tenant.ticket_prefix,
                         "agents": [(u.id, u.name) for u in users], "email": users[0].email,
                         "queues": [q.id for q in queues]}
        db.session.remove()
    return out


def _drop_indexes(conn: psycopg.Connection) -> list[str]:
    """The secondary indexes of the big tables (not those of constraints), dropped for the load; their definitions
    to build them again afterwards, which is much faster than keeping them up to date row by row."""
    rows = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = 'public' AND tablename = ANY(%s) AND NOT "
        "EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = format('%%I.%%I', schemaname, indexname)::regclass)",
        (["contacts", "tickets", "messages", "ticket_events", "ticket_reads"],)).fetchall()
    for name, _definition in rows:
        conn.execute(f'DROP INDEX "{name}"')
    return [definition for _name, definition in rows]


def _fill(conn, rng, words: _Words, tenant: dict, count: int, now: datetime, ids: dict) -> dict:
    requesters = _contacts(conn, rng, tenant, max(10, round(count * REQUESTERS / TICKETS)), ids)
    plans = _plans(rng, words, tenant, requesters, count, now, ids)
    _copy(conn, "tickets", ["id", "tenant_id", "number", "reference", "subject", "normalized_subject", "status",
                            "priority", "queue_id", "requester_id", "assignee_id", "sender_flagged", "created_at",
                            "updated_at", "last_message_at", "closed_at"], _ticket_rows(tenant, plans, now))
    first_message = ids.get("messages", 0) + 1
    contacts = {c[0]: c for c in requesters}
    _copy(conn, "messages", ["id", "tenant_id", "ticket_id", "direction", "dedupe_key", "message_id", "in_reply_to",
                             "references", "from_address", "from_name", "to", "cc", "subject", "text", "headers",
                             "sent_at", "thread_reason", "automatic", "acknowledge", "authenticity", "sender_flagged",
                             "size", "defects", "author_id", "delivery_status", "created_at"],
          _message_rows(rng, words, tenant, plans, contacts, ids))
    _copy(conn, "ticket_events", ["id", "tenant_id", "ticket_id", "message_id", "kind", "detail", "actor_id",
                                  "created_at"], _event_rows(tenant, plans, first_message, ids))
    _copy(conn, "ticket_reads", ["id", "tenant_id", "user_id", "ticket_id", "read_at"], _read_rows(tenant, plans, ids))
    conn.execute("UPDATE tenants SET ticket_seq = %s WHERE id = %s", (count, tenant["id"]))
    eight = [p for p in plans if len(p.times) == 8]
    by_product: dict[str, int] = {}
    for plan in plans:
        by_product[plan.product] = by_product.get(plan.product, 0) + 1
    return {"tickets": count, "eight": [p.id for p in eight[:: max(1, len(eight) // 50)]][:50],
            "by_product": by_product}


def _next(ids: dict, table: str) -> int:
    ids[table] = ids.get(table, 0) + 1
    return ids[table]


def _contacts(conn, rng, tenant: dict, count: int, ids: dict) -> list[tuple]:
    domains = ["client.test", "globex.test", "initech.test", "hooli.test", "contoso.test", "fabrikam.test"]
    rows = []
    for n in range(count):
        rows.append((_next(ids, "contacts"), tenant["id"], f"customer{n}@{domains[n % len(domains)]}",
                     f"{rng.choice(_NAMES)} {n}", rng.random() < 0.01, False,
                     datetime(2026, 1, 1, tzinfo=UTC)))
    _copy(conn, "contacts", ["id", "tenant_id", "email", "name", "vip", "bouncing", "created_at"], rows)
    return rows


def _plans(rng, words: _Words, tenant: dict, requesters: list[tuple], count: int, now: datetime,
           ids: dict) -> list[_Plan]:
    sizes = _message_counts(rng, count)
    frequent = max(1, len(requesters) // 40)  # 2.5% of requesters open a fifth of the tickets
    queue_ids = [*tenant["queues"], None]
    queue_weights = [w for _name, w in QUEUES] + [5]
    plans = []
    for number, size in enumerate(sizes, start=1):
        requester = requesters[rng.randrange(frequent) if rng.random() < 0.2 else rng.randrange(len(requesters))]
        created = now - timedelta(seconds=rng.uniform(0, DAYS * 86_400))
        times = [created]
        for _ in range(size - 1):
            times.append(min(now, times[-1] + timedelta(seconds=rng.expovariate(1 / 21_600))))
        age = (now - times[-1]).days
        status = rng.choices(_STATUSES, next(w for days, w in _STATUS_BY_AGE if days is None or age < days))[0]
        unassigned = rng.random() < (0.35 if status == "open" else 0.05)
        plans.append(_Plan(
            id=_next(ids, "tickets"), number=number, requester=requester[0],
            queue_id=rng.choices(queue_ids, queue_weights)[0],
            assignee_id=None if unassigned else rng.choice(tenant["agents"])[0], status=status,
            priority=rng.choices([p for p, _w in PRIORITIES], [w for _p, w in PRIORITIES])[0],
            subject=rng.choice(_TOPICS).format(n=rng.randrange(100, 99_999)), product=rng.choice(words.products),
            times=times))
    return plans


def _message_counts(rng: random.Random, count: int) -> list[int]:
    """1 to 8 messages per ticket, fewer more often, adding up to exactly ``MESSAGES_PER_TICKET`` per ticket."""
    sizes = rng.choices(range(1, 9), [17, 15, 14, 13, 12, 11, 10, 8], k=count)
    surplus = sum(sizes) - MESSAGES_PER_TICKET * count
    while surplus:
        n, step = rng.randrange(count), 1 if surplus > 0 else -1
        if 1 <= sizes[n] - step <= 8:
            sizes[n] -= step
            surplus -= step
    return sizes


def _ticket_rows(tenant: dict, plans: list[_Plan], now: datetime):
    for p in plans:
        done = p.status in ("resolved", "closed")
        updated = min(now, p.times[-1] + timedelta(hours=1)) if done else p.times[-1]
        yield (p.id, tenant["id"], p.number, f"{tenant['prefix']}-{p.number}", p.subject, p.subject.lower()[:255],
               p.status, p.priority, p.queue_id, p.requester, p.assignee_id, False, p.times[0], updated, p.times[-1],
               updated if p.status == "closed" else None)


def _message_rows(rng, words: _Words, tenant: dict, plans: list[_Plan], contacts: dict[int, tuple], ids: dict):
    support = [["Support", f"support@{tenant['slug']}.example.com"]]
    agents = dict(tenant["agents"])
    for p in plans:
        _id, _tenant, email, name, *_rest = contacts[p.requester]
        previous = None
        for n, sent in enumerate(p.times):
            message_id = f"{tenant['slug']}.{ids.get('messages', 0) + 1}@bench.test"
            author = p.assignee_id or tenant["agents"][0][0]
            direction = "inbound" if n % 2 == 0 else ("note" if rng.random() < 0.15 else "outbound")
            if direction == "inbound":
                text = words.body(rng, "Hello,", f"Best regards,\n{name}", p.product if n == 0 or rng.random() < 0.5
                                  else None)
                sender, recipients, author_id = (email, name), support, None
            else:
                text = words.body(rng, f"Hello {name.split()[0]},", f"Kind regards,\n{agents[author]}", None)
                sender, recipients, author_id = (support[0][1], agents[author]), [[name, email]], author
            yield (_next(ids, "messages"), tenant["id"], p.id, direction, message_id, f"<{message_id}>",
                   previous, json.dumps([previous] if previous else []), sender[0], sender[1],
                   json.dumps(recipients), "[]", p.subject if n == 0 else f"Re: {p.subject}", text, "[]", sent,
                   "new" if n == 0 else "in_reply_to", False, False, "{}", False, len(text), "[]", author_id,
                   "sent" if direction == "outbound" else None, sent)
            previous = f"<{message_id}>"


def _event_rows(tenant: dict, plans: list[_Plan], first_message: int, ids: dict):
    """About two per message: how it threaded or who replied, the routing, the assignment, the final status."""
    message = first_message
    agents = dict(tenant["agents"])
    for p in plans:
        actor = p.assignee_id
        yield (_next(ids, "ticket_events"), tenant["id"], p.id, message, "routed", json.dumps(
            {"queue_id": p.queue_id, "by": "receiving_mailbox", "address": "support@bench.example.com"}), None,
            p.times[0])
        if actor:
            yield (_next(ids, "ticket_events"), tenant["id"], p.id, None, "changed", json.dumps(
                {"field": "assignee", "from": None, "to": actor, "name": agents[actor]}), actor, p.times[0])
        for n, sent in enumerate(p.times):
            kind, detail = ("threaded", {"reason": "new"}) if n == 0 else (
                ("threaded", {"reason": "in_reply_to", "evidence": f"<{tenant['slug']}.{message - 1}@bench.test>"})
                if n % 2 == 0 else ("reply_queued", {}))
            yield (_next(ids, "ticket_events"), tenant["id"], p.id, message, kind, json.dumps(detail),
                   None if kind == "threaded" else actor, sent)
            message += 1
        if p.status != "open":
            yield (_next(ids, "ticket_events"), tenant["id"], p.id, None, "changed", json.dumps(
                {"field": "status", "from": "open", "to": p.status}), actor, p.times[-1])


def _read_rows(tenant: dict, plans: list[_Plan], ids: dict):
    for p in plans:
        if p.assignee_id and p.status != "open":
            yield _next(ids, "ticket_reads"), tenant["id"], p.assignee_id, p.id, p.times[-1]


def _copy(conn: psycopg.Connection, table: str, columns: list[str], rows) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    with conn.transaction(), conn.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


@contextlib.contextmanager
def _timed(into: dict, what: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    into[what] = time.perf_counter() - started

"""The agent inbox's ticket list: filters, search, sort, keyset pages and unread markers.

Every view reads an index in its sort order and stops after one page, however deep the page and large the tenant:

- the default view (open and pending, latest activity first): the partial index
  ``ix_tickets_tenant_id_active_last_message_at_id`` (the query repeats ``ACTIVE_PREDICATE`` verbatim);
- all statuses: ``ix_tickets_tenant_id_last_message_at_id``;
- a status, queue, assignee or priority filter: one of those two, or the column's own ``(tenant_id, <column>,
  last_message_at)`` index (0006, 0007), whichever the planner finds cheaper for the tenant's data;
- priority first: one keyset query per priority, urgent first (``ix_tickets_tenant_id_priority_last_message_at_id``);
- newest tickets first: the ticket number, which grows with creation (the unique ``(tenant_id, number)`` index).

Search (``q``) matches the words of message subjects and bodies (PostgreSQL: the GIN index on
``app.tickets.search.DOCUMENT``), the exact ticket reference (through its number) and requesters' addresses and
names. Pages are keyset pages: the signed ``after`` cursor holds the last row's sort key, never an offset.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import ColumnElement, Select, and_, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import selectinload

from app.auth.models import User
from app.bulk import among
from app.extensions import db
from app.tickets.models import ACTIVE_PREDICATE, Contact, Message, Priority, Ticket, TicketRead, TicketStatus
from app.tickets.queries import like_pattern
from app.tickets.search import CONFIG, DOCUMENT
from tenants.models import Tenant

PER_PAGE = 50
RARE_MATCHES = 20_000  # messages: fewer and a search reads its tickets from the full-text index first
SORTS = {"activity": _l("Latest activity first"), "oldest": _l("Oldest activity first"),
         "created": _l("Newest tickets first"), "priority": _l("Most urgent first")}
STATUS_VIEWS = ("active", "all", *(s.value for s in TicketStatus))
BY_RANK = sorted(Priority, key=lambda p: p.rank, reverse=True)  # urgent first
_REFERENCE = re.compile(r"\[?#?([A-Z0-9]{1,12})-(\d{1,9})\]?")


@dataclass
class Filters:
    """What the agent asked to see; ``errors`` names the fields whose value was ignored (a hand-edited URL)."""

    status: str = "active"  # "active" (open and pending), "all", or one status
    queue: str = ""  # "", "none", or a queue id
    assignee: str = ""  # "", "mine", "unassigned", or a member's user id
    priority: str = ""
    q: str = ""
    sort: str = "activity"
    errors: dict[str, str] = field(default_factory=dict)

    def args(self) -> dict[str, str]:
        """The filters that differ from the default view, for links that keep them (pages, bulk actions)."""
        default = Filters()
        return {name: getattr(self, name) for name in ("status", "queue", "assignee", "priority", "q", "sort")
                if getattr(self, name) != getattr(default, name)}


@dataclass
class Selection:
    """The ticked rows and the bulk form's choices, kept when the list is drawn again (select all, live updates)."""

    ids: set[int] = field(default_factory=set)
    all: bool = False  # every row of the page
    assignee: str = ""
    status: str = ""
    queue: str = ""


@dataclass
class ListRow:
    ticket: Ticket
    queue: str | None
    unread: bool


@dataclass
class TicketList:
    rows: list[ListRow]
    next_cursor: str | None  # the ``after`` of the next page; None on the last

    @property
    def unread(self) -> int:
        return sum(row.unread for row in self.rows)


def read_filters(args, *, queues: dict[int, str], agents: list[User]) -> Filters:
    """The list's filters from the query string. Values that are not among the choices (another tenant's queue or
    agent, an unknown status) are ignored with a field message: bad input never fails the page."""
    filters = Filters(q=args.get("q", "").replace("\x00", "").strip()[:200])  # PostgreSQL text cannot hold NUL
    choices = {
        "status": (STATUS_VIEWS, _("Choose a status from the list.")),
        "priority": (("", *(p.value for p in Priority)), _("Choose a priority from the list.")),
        "sort": (tuple(SORTS), _("Choose an order from the list.")),
        "queue": (("", "none", *map(str, queues)), _("Choose a queue from the list.")),
        "assignee": (("", "mine", "unassigned", *(str(a.id) for a in agents)), _("Choose an agent from the list.")),
    }
    for name, (allowed, message) in choices.items():
        value = args.get(name, "").strip()[:40] or getattr(filters, name)
        if value in allowed:
            setattr(filters, name, value)
        else:
            filters.errors[name] = message
    return filters


def read_selection(args) -> Selection:
    ids = set(args.getlist("ids", type=int)[:PER_PAGE * 4])
    chosen = (args.get(f"set_{name}", "")[:40] for name in ("assignee", "status", "queue"))
    return Selection(ids, args.get("select") == "page", *chosen)


def ticket_list(tenant: Tenant, viewer: User, filters: Filters, *, after: str | None = None,
                queues: dict[int, str]) -> TicketList:
    """One page of the view; a cursor that was tampered with or belongs to another order gives the first page."""
    key = _decode(after, filters.sort) if after else None
    query = _view(tenant, viewer, filters).options(selectinload(Ticket.requester))
    if filters.q:
        found = _merged([_page(query.where(match), filters.sort, key) for match in _matching(tenant, filters.q)],
                        filters.sort)
    else:
        found = _page(query, filters.sort, key)
    rows = [ListRow(ticket, queues.get(ticket.queue_id) if ticket.queue_id else None, bool(unread))
            for ticket, unread in found[:PER_PAGE]]
    more = len(found) > PER_PAGE
    return TicketList(rows, _encode(filters.sort, rows[-1].ticket) if more else None)


def mark_read(tenant: Tenant, ticket: Ticket, user: User) -> None:
    """Record that ``user`` has seen ``ticket`` up to its latest activity, and commit.

    ``read_at`` is the time of that activity as the page showed it, not the clock: mail that arrives while the page
    renders stays unread. One upsert, so two tabs opening the ticket at once cannot trip over the unique
    (user, ticket) constraint, and the later activity wins whichever tab writes last."""
    table = TicketRead.__table__
    insert = postgresql_insert if _postgresql() else sqlite_insert
    statement = insert(table).values(tenant_id=tenant.id, user_id=user.id, ticket_id=ticket.id,
                                     read_at=ticket.last_message_at)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=["user_id", "ticket_id"], set_={"read_at": statement.excluded.read_at},
        where=table.c.read_at < statement.excluded.read_at))
    db.session.commit()


def _postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _view(tenant: Tenant, viewer: User, filters: Filters) -> Select:
    unread = or_(TicketRead.id.is_(None), Ticket.last_message_at > TicketRead.read_at).label("unread")
    query = (select(Ticket, unread).where(Ticket.tenant_id == tenant.id)
             .outerjoin(TicketRead, and_(TicketRead.ticket_id == Ticket.id, TicketRead.user_id == viewer.id)))
    if filters.status == "active":
        query = query.where(text(f"tickets.{ACTIVE_PREDICATE}"))  # verbatim: the partial index's predicate
    elif filters.status != "all":
        query = query.where(Ticket.status == filters.status)
    query = _where_optional(query, Ticket.queue_id, filters.queue, "none")
    assignee = str(viewer.id) if filters.assignee == "mine" else filters.assignee
    query = _where_optional(query, Ticket.assignee_id, assignee, "unassigned")
    if filters.priority:
        query = query.where(Ticket.priority == filters.priority)
    return query


def _page(query: Select, sort: str, key: tuple | None, limit: int = PER_PAGE + 1) -> list:
    if sort == "priority":
        return _by_priority(query, key, limit)
    return list(db.session.execute(_ordered(query, sort, key).limit(limit)))


def _merged(pages: list[list], sort: str, limit: int = PER_PAGE + 1) -> list:
    """One page from the pages of each search branch: each ticket once, in ``sort`` order."""
    unique = {row[0].id: row for page in pages for row in page}
    return sorted(unique.values(), key=lambda row: _sort_key(sort, row[0]))[:limit]


def _sort_key(sort: str, ticket: Ticket) -> tuple:
    """What orders the list, ascending (negated where the list runs newest or most urgent first)."""
    stamp = ticket.last_message_at.timestamp()
    if sort == "created":
        return (-ticket.number,)
    if sort == "oldest":
        return (stamp, ticket.id)
    if sort == "priority":
        return (-ticket.priority.rank, -stamp, -ticket.id)
    return (-stamp, -ticket.id)


def _where_optional(query: Select, column, value: str, nothing: str) -> Select:
    """``value``: "" (anything), ``nothing`` (NULL) or an id checked by ``read_filters``."""
    if value == nothing:
        return query.where(column.is_(None))
    return query.where(column == int(value)) if value else query


def _matching(tenant: Tenant, q: str) -> list:
    """What a ticket found by ``q`` matches, one condition per branch. Each branch is read as its own keyset page
    and the pages are merged (``_merged``): an OR of them would stop PostgreSQL from choosing, per branch, between
    the GIN index (a rare word) and walking the list's index while checking each ticket (a word in every mail)."""
    like = like_pattern(q)
    requesters = select(Contact.id).where(Contact.tenant_id == tenant.id, or_(
        Contact.email.ilike(like, escape="\\"), Contact.name.ilike(like, escape="\\")))
    branches = [Ticket.requester_id.in_(requesters)]
    reference = _REFERENCE.fullmatch(q.strip().upper())
    if reference:  # exact: found through the (tenant_id, number) index, then checked whole
        branches.append(and_(Ticket.number == int(reference[2]), Ticket.reference == f"{reference[1]}-{reference[2]}"))
    if _postgresql():
        branches.append(_words(tenant, q))
    else:  # SQLite: no text index; LIKE over the same fields (and the ticket's own subject)
        branches.append(or_(Ticket.subject.ilike(like, escape="\\"), select(Message.id).where(
            Message.ticket_id == Ticket.id, Message.tenant_id == tenant.id,
            or_(Message.subject.ilike(like, escape="\\"), Message.text.ilike(like, escape="\\"))).exists()))
    return branches


def _words(tenant: Tenant, q: str) -> ColumnElement[bool]:
    """Tickets with a message whose words match ``q``, in the form that is fast for how common the words are (by the
    planner's own estimate, from the full-text index's statistics). A rare word: its few tickets, read from the GIN
    index first, then sorted. A common word: walk the list's index and check each ticket's messages, which stops
    after a page because nearly every ticket matches. Left to itself, the planner sometimes walks for a rare word
    (it thinks rebuilding a message's words is cheap) and reads 700 tickets' mail to find nothing."""
    words = text(f"{DOCUMENT} @@ websearch_to_tsquery('{CONFIG}', :inbox_q)").bindparams(inbox_q=q)
    matching = select(Message.ticket_id).where(Message.tenant_id == tenant.id, words)
    if _estimated_rows(matching) <= RARE_MATCHES:
        return among(Ticket.id, db.session.scalars(matching.distinct()).all())
    return select(Message.id).where(Message.ticket_id == Ticket.id, Message.tenant_id == tenant.id, words).exists()


def _estimated_rows(query: Select) -> float:
    compiled = query.compile(dialect=db.session.get_bind().dialect)
    plan = db.session.connection().exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params).scalar()
    return float(plan[0]["Plan"]["Plan Rows"])


def _ordered(query: Select, sort: str, key: tuple | None) -> Select:
    """``query`` in ``sort`` order, after the row whose sort key is ``key`` (the id breaks ties)."""
    activity = tuple_(Ticket.last_message_at, Ticket.id)
    if sort == "created":
        return (query.where(Ticket.number < key[0]) if key else query).order_by(Ticket.number.desc())
    if sort == "oldest":
        return (query.where(activity > tuple_(*key)) if key else query).order_by(Ticket.last_message_at, Ticket.id)
    return ((query.where(activity < tuple_(*key)) if key else query)
            .order_by(Ticket.last_message_at.desc(), Ticket.id.desc()))


def _by_priority(query: Select, key: tuple | None, limit: int) -> list:
    """Urgent first, latest activity first within a priority: one index range per priority, read until the page
    is full (a CASE over priorities in ORDER BY could use no index)."""
    found: list = []
    start = key[0] if key else BY_RANK[0].rank
    for priority in BY_RANK:
        if priority.rank > start:
            continue
        within = key[1:] if key and priority.rank == start else None
        found += db.session.execute(_ordered(query.where(Ticket.priority == priority), "activity", within)
                                    .limit(limit - len(found)))
        if len(found) >= limit:
            break
    return found


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="inbox.cursor")


def _encode(sort: str, ticket: Ticket) -> str:
    activity = [ticket.last_message_at.isoformat(), ticket.id]
    key = {"created": [ticket.number], "priority": [ticket.priority.rank, *activity]}.get(sort, activity)
    return _serializer().dumps([sort, *key])


def _decode(cursor: str, sort: str) -> tuple | None:
    """The sort key in ``cursor``; None for anything not signed by us for this order."""
    try:
        data = _serializer().loads(cursor[:500])
    except BadData:
        return None
    if not isinstance(data, list) or not data or data[0] != sort:
        return None
    reader: Callable[[list], tuple] = {"created": lambda k: (_int(*k),),
                                       "priority": lambda k: (_rank(k[0]), _when(k[1]), _int(k[2]))
                                       }.get(sort, lambda k: (_when(k[0]), _int(*k[1:])))
    try:
        return reader(data[1:])
    except (TypeError, ValueError, IndexError):
        return None


def _int(value) -> int:
    if type(value) is not int or not 0 <= value < 2**31:
        raise ValueError(value)
    return value


def _rank(value) -> int:
    if _int(value) > BY_RANK[0].rank:
        raise ValueError(value)
    return value


def _when(value) -> datetime:
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:  # naive timestamps cannot be compared with stored ones
        raise ValueError(value)
    return when

"""The inbox's ticket list: views, search, orders, keyset pages, unread markers, bulk actions, and their plans."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import quote

import pytest
from sqlalchemy import event, select, text, update

from app.tickets.models import Priority, Ticket, TicketEvent, TicketRead, TicketStatus
from tenants.models import Role
from tests.fixtures.inbox import make_mail

BASE = "/t/acme/inbox"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def hr(db, inbox):
    from app.queues.models import Queue

    queue = Queue(tenant_id=inbox.tenant.id, name="HR")
    db.session.add(queue)
    db.session.commit()
    return queue


def _ticket(inbox, **mail) -> Ticket:
    return inbox.message_of(inbox.deliver(make_mail(**mail))).ticket


def _set(db, ticket: Ticket, **fields) -> None:
    for name, value in fields.items():
        setattr(ticket, name, value)
    db.session.commit()


def _ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'id="ticket-(\d+)"', html)]


def _list(client, query: str = "") -> list[int]:
    response = client.get(f"{BASE}/?{query}")
    assert response.status_code == 200, query
    return _ids(response.get_data(as_text=True))


def _next_link(html: str) -> str | None:
    found = re.search(r'<a href="([^"]*)" id="next-page"', html)
    return unescape(found.group(1)) if found else None


def _walk(client, query: str) -> tuple[list[int], list[str]]:
    """Every page of a view, following the "Next page" links; the ids in order, and the links followed."""
    url, ids, links = f"{BASE}/?{query}", [], []
    while url:
        html = client.get(url).get_data(as_text=True)
        ids += _ids(html)
        url = _next_link(html)
        links += [url] if url else []
    return ids, links


@pytest.fixture
def four(db, inbox, agent, hr, add_member):
    """a: open, Support, mine, high; b: pending, no queue, unassigned; c: resolved, HR, a colleague's; d: closed."""
    colleague = add_member(inbox.tenant, Role.AGENT, name="Colleague")
    a, b, c, d = (_ticket(inbox, subject=f"Ticket {name}", sender=f"{name}@client.test") for name in "abcd")
    _set(db, a, last_message_at=T0 + timedelta(hours=4), assignee_id=agent.id, priority=Priority.HIGH)
    _set(db, b, last_message_at=T0 + timedelta(hours=3), status=TicketStatus.PENDING, queue_id=None)
    _set(db, c, last_message_at=T0 + timedelta(hours=2), status=TicketStatus.RESOLVED, queue_id=hr.id,
         assignee_id=colleague.id)
    _set(db, d, last_message_at=T0 + timedelta(hours=1), status=TicketStatus.CLOSED)
    return a, b, c, d, colleague


def test_the_default_view_is_open_and_pending_and_each_filter_narrows_it(client, db, inbox, hr, four):
    a, b, c, d, colleague = four
    assert _list(client) == [a.id, b.id]
    assert _list(client, "status=all") == [a.id, b.id, c.id, d.id]
    assert _list(client, "status=resolved") == [c.id]
    assert _list(client, f"queue={inbox.queue.id}") == [a.id]
    assert _list(client, f"queue={hr.id}&status=all") == [c.id]
    assert _list(client, "queue=none") == [b.id]
    assert _list(client, "assignee=mine") == [a.id]
    assert _list(client, "assignee=unassigned&status=all") == [b.id, d.id]
    assert _list(client, f"assignee={colleague.id}&status=all") == [c.id]
    assert _list(client, "priority=high&status=all") == [a.id]
    assert _list(client, "priority=low&status=all") == []


@pytest.mark.parametrize(("query", "message"), [
    ("status=sleeping", "Choose a status from the list."),
    ("priority=meh", "Choose a priority from the list."),
    ("queue=abc", "Choose a queue from the list."),
    ("queue=99999999999999999999", "Choose a queue from the list."),
    ("assignee=x", "Choose an agent from the list."),
    ("assignee=99999999999999999999", "Choose an agent from the list."),
    ("sort=random", "Choose an order from the list."),
])
def test_bad_filters_are_ignored_with_a_message(client, db, four, query, message):
    a, b, *_rest = four
    html = client.get(f"{BASE}/?{query}").get_data(as_text=True)
    assert _ids(html) == [a.id, b.id] and message in html and 'aria-invalid="true"' in html


def test_another_tenants_queue_and_agent_filter_nothing(client, db, four, create_tenant):
    from app.queues.services import create_queue

    a, b, *_rest = four
    rival = create_tenant("rival")
    rival_queue = create_queue(rival, name="Rival queue")
    for query in (f"queue={rival_queue.id}", f"assignee={rival.owner.id}"):
        html = client.get(f"{BASE}/?{query}").get_data(as_text=True)
        assert _ids(html) == [a.id, b.id] and "from the list." in html and "Rival queue" not in html


def test_search_finds_a_word_that_is_only_in_a_later_message_body(client, db, inbox, agent):
    first = inbox.message_of(inbox.deliver(make_mail(subject="Printer jam", message_id="<root@client.test>")))
    inbox.deliver(make_mail(subject="Re: Printer jam", body="Now the xylophone in the lobby is broken too.",
                            headers={"In-Reply-To": "<root@client.test>"}))
    other = _ticket(inbox, subject="VPN down", sender="bob@client.test", body="No tunnel since Monday.")
    assert _list(client, "q=xylophone") == [first.ticket_id]
    assert _list(client, "q=tunnel") == [other.id]
    assert _list(client, "q=marimba") == []
    refused = client.get(f"{BASE}/?q=%00xylophone")  # PostgreSQL cannot hold a NUL: a clear error, not a 500
    assert refused.status_code == 400 and "<code>q</code>: Must not contain" in refused.get_data(as_text=True)


def test_search_by_exact_reference_in_any_spelling(client, db, inbox, agent):
    one = _ticket(inbox, subject="Printer jam")
    two = _ticket(inbox, subject="VPN down", sender="bob@client.test")
    assert (one.reference, two.reference) == ("ACME-1", "ACME-2")
    for spelling in ("ACME-2", "acme-2", "#ACME-2", "[#acme-2]"):
        assert _list(client, f"q={quote(spelling)}") == [two.id], spelling
    assert _list(client, "q=ACME-22") == [] and _list(client, "q=ACME-") == []  # exact, not a prefix


def test_search_by_requester_address_or_name(client, db, inbox, agent):
    ada = _ticket(inbox, subject="Printer jam", sender="Ada Lovelace <ada@analytical.test>")
    _ticket(inbox, subject="VPN down", sender="Bob <bob@client.test>")
    for q in ("lovelace", "ada@", "ANALYTICAL.TEST", "Ada Love"):
        assert _list(client, f"q={q}") == [ada.id], q


def test_sort_orders(client, db, inbox, agent):
    t1, t2, t3 = (_ticket(inbox, subject=f"Thing {n}", sender=f"s{n}@client.test") for n in range(3))
    _set(db, t1, last_message_at=T0 + timedelta(hours=3), priority=Priority.NORMAL)
    _set(db, t2, last_message_at=T0 + timedelta(hours=1), priority=Priority.URGENT)
    _set(db, t3, last_message_at=T0 + timedelta(hours=2), priority=Priority.LOW)
    assert _list(client) == _list(client, "sort=activity") == [t1.id, t3.id, t2.id]
    assert _list(client, "sort=oldest") == [t2.id, t3.id, t1.id]
    assert _list(client, "sort=created") == [t3.id, t2.id, t1.id]
    assert _list(client, "sort=priority") == [t2.id, t1.id, t3.id]


@pytest.fixture
def many(db, inbox, agent):
    """120 tickets; activity times shared in threes and priorities mixed, so ties have to be broken by id."""
    inbox.deliver_batch([make_mail(subject=f"Bulk {n}", sender=f"s{n}@client.test") for n in range(120)])
    tickets = list(db.session.scalars(Ticket.all(inbox.tenant)))
    for n, ticket in enumerate(tickets):
        ticket.last_message_at = T0 + timedelta(minutes=n // 3)
        ticket.priority = list(Priority)[n % 4]
    db.session.commit()
    return tickets


@pytest.mark.parametrize(("sort", "key"), [
    ("activity", lambda t: (t.last_message_at, t.id)),
    ("oldest", lambda t: (-t.last_message_at.timestamp(), -t.id)),
    ("created", lambda t: t.number),
    ("priority", lambda t: (t.priority.rank, t.last_message_at, t.id)),
])
def test_keyset_pages_cover_every_ticket_once_in_order(client, db, many, sort, key):
    ids, links = _walk(client, f"sort={sort}&q=bulk")
    assert len(links) == 2 and all("q=bulk" in link for link in links)
    assert all(f"sort={sort}" in link for link in links) or sort == "activity"  # the default is left out
    assert len(ids) == len(set(ids)) == 120  # no duplicates, no gaps
    assert ids == [t.id for t in sorted(many, key=key, reverse=True)]


def test_pages_stay_right_when_tickets_change_between_them(client, db, inbox, many):
    first = client.get(f"{BASE}/").get_data(as_text=True)
    newest = _ids(first)[0]
    _ticket(inbox, subject="Brand new", sender="new@client.test")  # arrives on top: shifts no later page
    second = client.get(_next_link(first)).get_data(as_text=True)
    assert newest not in _ids(second) and len(_ids(second)) == 50


def test_a_tampered_or_foreign_cursor_gives_the_first_page(app, client, db, many):
    from itsdangerous import URLSafeSerializer

    first_html = client.get(f"{BASE}/").get_data(as_text=True)
    first = _ids(first_html)
    cursor = re.search(r"after=([^&]+)", _next_link(first_html)).group(1)
    tampered = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    signed = URLSafeSerializer(app.secret_key, salt="inbox.cursor")
    created = re.search(r"after=([^&]+)", _next_link(client.get(f"{BASE}/?sort=created").get_data(as_text=True)))
    for after in (tampered, "garbage", "%%%", "x" * 2000, created.group(1),
                  signed.dumps(["activity", "2026-11-01T09:00:00", 5]),  # a naive time
                  signed.dumps(["activity", "2026-11-01T09:00:00+00:00", 10**20]),
                  signed.dumps(["activity", "yesterday", 5]), signed.dumps(["priority", 9, "x", 1]),
                  signed.dumps({"sort": "activity"})):
        response = client.get(f"{BASE}/", query_string={"after": after})
        assert response.status_code == 200 and _ids(response.get_data(as_text=True)) == first, after


def _unread(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'class="ticket-row unread" id="ticket-(\d+)"', html)]


def test_tickets_are_unread_until_opened_and_again_after_new_mail(client, db, inbox, agent, add_member, login):
    printer = inbox.message_of(inbox.deliver(make_mail(subject="Printer jam", message_id="<root@client.test>"))).ticket
    vpn = _ticket(inbox, subject="VPN down", sender="bob@client.test")
    html = client.get(f"{BASE}/").get_data(as_text=True)
    assert _unread(html) == [vpn.id, printer.id] and "Unread:" in html and "2 tickets shown, 2 unread." in html
    assert client.get(f"{BASE}/{printer.id}").status_code == 200
    html = client.get(f"{BASE}/").get_data(as_text=True)
    assert _unread(html) == [vpn.id] and "2 tickets shown, 1 unread." in html
    inbox.deliver(make_mail(subject="Re: Printer jam", headers={"In-Reply-To": "<root@client.test>"}))
    assert _unread(client.get(f"{BASE}/").get_data(as_text=True)) == [printer.id, vpn.id]
    login(add_member(inbox.tenant, Role.AGENT))  # read markers are each agent's own
    assert _unread(client.get(f"{BASE}/").get_data(as_text=True)) == [printer.id, vpn.id]


def test_opening_a_ticket_again_keeps_one_read_marker(client, db, inbox, agent):
    from app.inbox.listing import mark_read

    ticket = _ticket(inbox, subject="Printer jam")
    for _n in range(2):
        assert client.get(f"{BASE}/{ticket.id}").status_code == 200
    mark_read(inbox.tenant, ticket, agent)  # an upsert: a second tab at the same moment cannot collide
    reads = list(db.session.scalars(select(TicketRead).where(TicketRead.ticket_id == ticket.id)))
    assert len(reads) == 1 and reads[0].user_id == agent.id and reads[0].read_at == ticket.last_message_at


def _bulk(client, ids, query: str = "", **choices):
    return client.post(f"{BASE}/bulk{query}", data={"ids": [str(i) for i in ids], **choices})


def _changed(db, ticket) -> dict[str, list]:
    events = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                          TicketEvent.kind == "changed").order_by(TicketEvent.id))
    return {e.detail["field"]: [e.detail["to"], e.actor_id] for e in events}


def _audited(db, ticket) -> list[str]:
    from app.audit.models import AuditEvent

    return sorted(db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "ticket",
                                                                     AuditEvent.object_id == ticket.id)))


@pytest.mark.parametrize("role", [Role.AGENT, Role.ADMIN])
def test_bulk_assign_status_and_queue_through_the_timeline_and_audit(client, db, inbox, hr, add_member, login,
                                                                      role):
    actor = add_member(inbox.tenant, role)
    login(actor)
    colleague = add_member(inbox.tenant, Role.AGENT, name="Colleague")
    a, b, c = (_ticket(inbox, subject=f"Ticket {n}", sender=f"s{n}@client.test") for n in range(3))
    response = _bulk(client, [a.id, b.id], "?status=all&q=ticket", set_assignee=str(colleague.id),
                     set_status="pending", set_queue=str(hr.id))
    assert response.status_code == 302 and response.location.endswith(f"{BASE}/?status=all&q=ticket")
    assert "2 tickets updated." in client.get(response.location).get_data(as_text=True)
    db.session.expire_all()
    for ticket in (a, b):
        assert (ticket.assignee_id, ticket.status, ticket.queue_id) == (colleague.id, TicketStatus.PENDING, hr.id)
        assert _changed(db, ticket) == {"assignee": [colleague.id, actor.id], "status": ["pending", actor.id],
                                        "queue": [hr.id, actor.id]}
        assert _audited(db, ticket) == ["ticket.assignee", "ticket.queue", "ticket.status"]
    assert (c.assignee_id, c.status, c.queue_id) == (None, TicketStatus.OPEN, inbox.queue.id)
    assert _changed(db, c) == {} and _audited(db, c) == []


def test_bulk_assign_to_me_then_to_no_one(client, db, inbox, agent):
    ticket = _ticket(inbox, subject="Printer jam")
    _bulk(client, [ticket.id], set_assignee="me")
    db.session.expire_all()
    assert ticket.assignee_id == agent.id
    _bulk(client, [ticket.id], set_assignee="none", set_queue="none")
    db.session.expire_all()
    assert (ticket.assignee_id, ticket.queue_id) == (None, None)
    response = _bulk(client, [ticket.id], set_assignee="none")
    assert "Nothing changed" in client.get(response.location).get_data(as_text=True)


def test_bulk_never_touches_another_tenants_ticket(client, db, inbox, agent, create_tenant):
    ours = _ticket(inbox, subject="Printer jam")
    rival = create_tenant("rival")
    theirs = Ticket(tenant_id=rival.id, number=1, reference="RIVAL-1", subject="Secret")
    db.session.add(theirs)
    db.session.commit()
    response = _bulk(client, [ours.id, theirs.id], set_status="closed", set_assignee="me")
    assert "1 ticket updated." in client.get(response.location).get_data(as_text=True)
    db.session.expire_all()
    assert ours.status == TicketStatus.CLOSED
    assert (theirs.status, theirs.assignee_id, theirs.version) == (TicketStatus.OPEN, None, 1)
    assert _changed(db, theirs) == {} and _audited(db, theirs) == []


def test_bulk_refuses_another_tenants_agent_and_queue_and_bad_input(client, db, inbox, agent, create_tenant):
    from app.queues.services import create_queue

    ticket = _ticket(inbox, subject="Printer jam")
    version = ticket.version
    rival = create_tenant("rival")
    cases = [({"set_assignee": str(rival.owner.id)}, "from the lists"),
             ({"set_queue": str(create_queue(rival, name="Theirs").id)}, "from the lists"),
             ({"set_status": "sleeping"}, "from the lists"),
             ({"set_assignee": "99999999999999999999"}, "from the lists"),
             ({}, "Choose what to change")]
    for choices, message in cases:
        response = _bulk(client, [ticket.id], **choices)
        assert response.status_code == 302 and message in client.get(response.location).get_data(as_text=True)
    for ids in ([], ["abc"], ["99999999999999999999"]):
        response = client.post(f"{BASE}/bulk", data={"ids": ids, "set_status": "closed"})
        assert response.status_code == 302, ids
    db.session.expire_all()
    assert (ticket.assignee_id, ticket.status, ticket.queue_id, ticket.version) == (
        None, TicketStatus.OPEN, inbox.queue.id, version)


def test_bulk_is_404_for_another_tenant_and_needs_the_csrf_token(client, db, inbox, agent, create_tenant, login):
    ticket = _ticket(inbox, subject="Printer jam")
    forged = client.post(f"{BASE}/bulk", data={"ids": [str(ticket.id)], "set_status": "closed"}, csrf=False)
    assert forged.status_code == 400
    login(create_tenant("rival").owner)
    assert _bulk(client, [ticket.id], set_status="closed").status_code == 404
    assert client.post("/t/rival/inbox/bulk", data={"ids": [str(ticket.id)], "set_status": "closed"}
                       ).status_code == 302  # their own list: the id is not theirs, so nothing happens
    db.session.expire_all()
    assert ticket.status == TicketStatus.OPEN and _changed(db, ticket) == {}


def test_the_list_is_labelled_for_screen_readers_and_announces_counts(client, db, inbox, agent):
    ticket = _ticket(inbox, subject="Printer jam")
    html = client.get(f"{BASE}/").get_data(as_text=True)
    assert '<caption class="visually-hidden">Tickets</caption>' in html and html.count('scope="col"') == 9
    for name in ("q", "status", "queue", "assignee", "priority", "sort", "set_assignee", "set_status", "set_queue"):
        assert f'<label for="{name}">' in html and f'id="{name}"' in html, name
    assert re.search(r'id="list-status" class="help" role="status" aria-live="polite">\s*1 ticket shown, 1 unread',
                     html)
    assert 'aria-label="Select ACME-1: Printer jam"' in html and f'value="{ticket.id}" form="bulk-form"' in html
    partial = client.get(f"{BASE}/?q=nothing-here", headers={"HX-Request": "true", "HX-Target": "tickets"})
    body = partial.get_data(as_text=True)
    assert "<html" not in body and body.lstrip().startswith('<section class="card" id="tickets">')
    assert re.search(r'id="list-status"[^>]*hx-swap-oob="true">\s*No tickets match\.', body)
    assert "HX-Request" in partial.headers["Vary"]


def test_select_all_and_a_kept_selection(client, db, inbox, agent):
    a, b = (_ticket(inbox, subject=f"Ticket {n}", sender=f"s{n}@client.test") for n in range(2))
    checked = r'value="(\d+)" form="bulk-form" id="select-\d+"\s*aria-label="[^"]*" checked'
    assert re.findall(checked, client.get(f"{BASE}/").get_data(as_text=True)) == []
    html = client.get(f"{BASE}/?select=page").get_data(as_text=True)
    assert sorted(map(int, re.findall(checked, html))) == sorted([a.id, b.id]) and "Clear the selection" in html
    kept = client.get(f"{BASE}/?ids={a.id}&set_status=closed").get_data(as_text=True)  # a live update redraws
    assert re.findall(checked, kept) == [str(a.id)] and '<option value="closed" selected>' in kept


@pytest.fixture
def big_tenant(db, inbox, agent):
    """5,000 tickets (one in five open or pending) of 1,000 requesters, with two messages each, one of them
    holding a rare word."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("query plans are PostgreSQL's; SQLite has no full-text index to check")
    params = {"tenant": inbox.tenant.id, "queue": inbox.queue.id, "agent": agent.id}
    db.session.execute(text("""
        INSERT INTO tickets (tenant_id, number, reference, subject, normalized_subject, status, priority,
                             sender_flagged, created_at, updated_at, last_message_at, version, queue_id, assignee_id)
        SELECT :tenant, n, 'ACME-' || n, 'Bulk ticket ' || n, '',
               CASE n % 10 WHEN 0 THEN 'open' WHEN 1 THEN 'pending' ELSE 'closed' END,
               (ARRAY['low', 'normal', 'high', 'urgent'])[1 + n % 4], false, t, t, t, 1,
               CASE WHEN n % 3 = 0 THEN :queue END, CASE WHEN n % 7 = 0 THEN :agent END
        FROM generate_series(1, 5000) AS n, LATERAL (SELECT now() - n * interval '1 minute' AS t) AS at"""), params)
    db.session.execute(text("""
        INSERT INTO messages (tenant_id, ticket_id, direction, "references", from_address, from_name, "to", cc,
                              subject, text, headers, thread_reason, automatic, acknowledge, authenticity,
                              sender_flagged, size, defects, created_at)
        SELECT tenant_id, id, 'inbound', '[]', 'someone@client.test', '', '[]', '[]', subject,
               CASE WHEN number = 4242 AND m = 2 THEN 'the quuxword again' ELSE 'Body ' || m || ' of ' || id END,
               '[]', 'new', false, false, '{}', false, 0, '[]', created_at
        FROM tickets, generate_series(1, 2) AS m WHERE tenant_id = :tenant"""), params)
    db.session.execute(text("""
        INSERT INTO contacts (tenant_id, email, name, vip, bouncing, created_at)
        SELECT :tenant, 'person' || n || '@client.test', 'Person ' || n, false, false, now()
        FROM generate_series(0, 999) AS n"""), params)
    db.session.execute(text("""
        UPDATE tickets SET requester_id = contacts.id FROM contacts
        WHERE tickets.tenant_id = :tenant AND contacts.tenant_id = :tenant
          AND contacts.email = 'person' || tickets.number % 1000 || '@client.test'"""), params)
    for table in ("tickets", "messages", "contacts", "ticket_reads"):
        db.session.execute(text(f"ANALYZE {table}"))
    # What autovacuum does on a real system: move the GIN indexes' pending entries into the index proper.
    db.session.execute(text("SELECT gin_clean_pending_list('ix_messages_search'), "
                            "gin_clean_pending_list('ix_contacts_search')"))
    db.session.commit()


def _plans(client, db, url: str, reading: str = "FROM tickets") -> list[str]:
    """EXPLAIN of each statement the list ran that reads a page of tickets (or what ``reading`` says)."""
    statements = []

    def grab(_conn, _cursor, statement, parameters, _context, _executemany):
        if reading in statement and not statement.startswith("EXPLAIN") and (
                "LIMIT" in statement or reading != "FROM tickets"):
            statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", grab)
    try:
        html = client.get(url).get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", grab)
    assert statements and "ticket-row" in html, url
    connection = db.session.connection()
    if reading != "FROM tickets":  # 10,000 messages are one cheap sequential scan: show the index can serve it
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return ["\n".join(connection.exec_driver_sql(f"EXPLAIN {s}", p).scalars()) for s, p in statements]


def test_every_view_reads_an_index_on_postgresql(client, db, inbox, big_tenant):
    default = _plans(client, db, f"{BASE}/")
    assert "ix_tickets_tenant_id_active_last_message_at_id" in default[0], default[0]
    # A rare word: its tickets come from the full-text index first.
    search = _plans(client, db, f"{BASE}/?q=quuxword&status=all", reading="FROM messages")
    assert any("ix_messages_search" in plan for plan in search), search
    priority = _plans(client, db, f"{BASE}/?sort=priority&status=all")
    assert all("ix_tickets_tenant_id_priority_last_message_at_id" in plan for plan in priority), priority
    second_page = _next_link(client.get(f"{BASE}/?status=all").get_data(as_text=True))
    views = ["sort=priority", "status=all", "status=closed", f"queue={inbox.queue.id}", "assignee=mine",
             "assignee=unassigned", "priority=urgent", "sort=oldest", "sort=created", "q=ACME-4242&status=all"]
    for url in [second_page, *(f"{BASE}/?{view}" for view in views)]:
        for plan in _plans(client, db, url):
            assert "Seq Scan on tickets" not in plan and "Index" in plan, f"{url}\n{plan}"


def test_a_changed_ticket_moves_in_the_list(client, db, inbox, agent):
    old = _ticket(inbox, subject="Printer jam")
    new = _ticket(inbox, subject="VPN down", sender="bob@client.test")
    _set(db, old, last_message_at=T0 + timedelta(days=400))
    assert _list(client) == [old.id, new.id]
    db.session.execute(update(Ticket).where(Ticket.id == old.id).values(status=TicketStatus.CLOSED))
    db.session.commit()
    assert _list(client) == [new.id]

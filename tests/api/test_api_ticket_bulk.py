"""Merge, split, bulk changes and a requester's preferences through the API: the inbox's rules (same tenant only,
not into itself, the last mail stays), the version check, field errors with pointers, another tenant's objects,
and the same timeline entries, audit events and webhook events as the same action in the inbox."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.tickets.models import Message, Ticket, TicketEvent, TicketStatus
from tenants.models import Role
from tests.api.problems import PROBLEM, field_errors
from tests.fixtures.inbox import make_mail

BASE = "/t/acme/inbox"
API = "/api/v1/tickets"


@pytest.fixture
def headers(inbox, api_token):
    return api_token(inbox.tenant)


@pytest.fixture
def api(app, db):
    """A client of its own for the API, so the agent signed in on ``client`` never acts through it."""
    return app.test_client()


@pytest.fixture
def webhook_events(monkeypatch):
    """``(event, changes)`` of every webhook event the verbs emit, whether or not anyone subscribed."""
    from app.webhooks import services

    emitted = []

    def emit(tenant, event_name, data):
        data = data() if callable(data) else data
        emitted.append((event_name, data.get("changes")))
        return []

    monkeypatch.setattr(services, "emit", emit)
    return emitted


def _ticket(inbox, **mail) -> Ticket:
    return inbox.message_of(inbox.deliver(make_mail(**mail))).ticket


def _thread(inbox, n: int) -> tuple[Ticket, Message]:
    """A ticket of two mails from the same requester; the second mail."""
    first_id = f"<thread{n}@client.test>"
    ticket = _ticket(inbox, subject=f"Printer {n}", sender=f"ann{n}@client.test", message_id=first_id)
    second = inbox.message_of(inbox.deliver(make_mail(subject=f"Re: Printer {n}", sender=f"ann{n}@client.test",
                                                      body="Also my laptop is broken.",
                                                      headers={"In-Reply-To": first_id})))
    return ticket, second


def _form(client, ticket_id: int, prefix: str) -> dict:
    """The hidden fields of one of the ticket page's forms, as the page rendered them."""
    html = client.get(f"{BASE}/{ticket_id}").get_data(as_text=True)
    return dict(re.findall(rf'name="({prefix}-\w+)"[^>]*value="([^"]*)"', html))


def _trail(db, *tickets) -> dict:
    """The timeline entries and audit events of ``tickets``, without what differs between twins (ids,
    references, who acted): the kinds and the fields they name."""
    ids = [ticket.id for ticket in tickets]
    events = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id.in_(ids)).order_by(TicketEvent.id))
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.object_type == "ticket",
                                                        AuditEvent.object_id.in_(ids)).order_by(AuditEvent.id))
    return {"timeline": sorted((e.kind, e.detail.get("field", "")) for e in events),
            "audit": sorted((a.action, *sorted(a.changes)) for a in audit)}


def test_merge_answers_the_survivor_as_the_inbox_does(client, api, db, inbox, agent, headers, webhook_events):
    source = _ticket(inbox, subject="Printer jam", sender="ann@client.test")
    target = _ticket(inbox, subject="Printer still jammed", sender="ann@client.test")
    response = api.post(f"{API}/{source.id}/merge", json={"into": target.id, "version": source.version},
                        headers=headers)
    assert response.status_code == 200 and response.json["id"] == target.id
    db.session.expire_all()
    assert source.status == TicketStatus.CLOSED and source.merged_into_id == target.id
    assert response.json["version"] == target.version
    assert set(db.session.scalars(select(Message.ticket_id).where(Message.tenant_id == inbox.tenant.id))) == {
        target.id}
    # The twin, through the inbox's merge form: the same timeline entries and audit events.
    twin_source = _ticket(inbox, subject="Printer jam", sender="bob@client.test")
    twin_target = _ticket(inbox, subject="Printer still jammed", sender="bob@client.test")
    client.post(f"{BASE}/{twin_source.id}/merge", data={**_form(client, twin_source.id, "merge"),
                                                        "merge-target": twin_target.reference})
    db.session.expire_all()
    assert twin_source.merged_into_id == twin_target.id
    assert _trail(db, source, target) == _trail(db, twin_source, twin_target)
    assert ("ticket.merge", "into") in _trail(db, source)["audit"]
    assert webhook_events == []  # the inbox's merge sends none either


def test_merging_into_a_merged_ticket_lands_in_its_survivor_and_never_loops(client, db, api, inbox, agent, headers):
    first, second, third = (_ticket(inbox, subject=f"Jam {n}", sender=f"m{n}@client.test") for n in range(3))
    assert api.post(f"{API}/{first.id}/merge", json={"into": second.id}, headers=headers).status_code == 200
    assert api.post(f"{API}/{second.id}/merge", json={"into": third.id}, headers=headers).status_code == 200
    # first is merged into second, which is merged into third: merging third "into first" would be a loop.
    looped = api.post(f"{API}/{third.id}/merge", json={"into": first.id}, headers=headers)
    assert field_errors(looped) == {"#/into": "A ticket cannot be merged into itself."}
    fourth = _ticket(inbox, subject="Jam 4", sender="m4@client.test")
    landed = api.post(f"{API}/{fourth.id}/merge", json={"into": first.id}, headers=headers)
    assert landed.status_code == 200 and landed.json["id"] == third.id
    fifth = _ticket(inbox, subject="Jam 5", sender="m5@client.test")  # the same through the inbox's form
    client.post(f"{BASE}/{fifth.id}/merge", data={**_form(client, fifth.id, "merge"), "merge-target": first.reference})
    db.session.expire_all()
    assert fifth.merged_into_id == third.id and third.merged_into_id is None


def test_merge_refuses_itself_unknown_and_another_tenants_ticket_alike(db, api, inbox, headers, create_tenant):
    source = _ticket(inbox)
    rival = create_tenant("rival")
    theirs = Ticket(tenant_id=rival.id, number=1, reference="RIVAL-1", subject="Secret")
    db.session.add(theirs)
    db.session.commit()
    url = f"{API}/{source.id}/merge"
    assert field_errors(api.post(url, json={"into": source.id}, headers=headers)) == {
        "#/into": "A ticket cannot be merged into itself."}
    unknown = field_errors(api.post(url, json={"into": 2_000_000_000}, headers=headers))
    assert unknown == {"#/into": "No other ticket has this id."}
    assert field_errors(api.post(url, json={"into": theirs.id}, headers=headers)) == unknown  # no existence leak
    assert set(field_errors(api.post(url, json={"into": "2", "extra": 1}, headers=headers))) == {"#/into", "#/extra"}
    assert set(field_errors(api.post(url, json={}, headers=headers))) == {"#/into"}
    db.session.expire_all()
    assert (source.merged_into_id, source.status, theirs.version) == (None, TicketStatus.OPEN, 1)


def test_merge_with_a_stale_version_is_a_409(db, api, inbox, headers):
    source, target = _ticket(inbox), _ticket(inbox, sender="bob@client.test")
    stale = source.version
    api.post(f"{API}/{source.id}/notes", json={"body": "Looking into it."}, headers=headers)
    response = api.post(f"{API}/{source.id}/merge", json={"into": target.id, "version": stale}, headers=headers)
    assert response.status_code == 409 and response.mimetype == PROBLEM
    db.session.expire_all()
    assert source.merged_into_id is None


def test_split_answers_201_with_the_new_ticket_as_the_inbox_does(client, api, db, inbox, agent, headers):
    ticket, second = _thread(inbox, 1)
    twin, twin_second = _thread(inbox, 2)
    response = api.post(f"{API}/{ticket.id}/messages/{second.id}/split", json={"version": ticket.version},
                        headers=headers)
    assert response.status_code == 201
    db.session.expire_all()
    new = db.session.get(Ticket, response.json["id"])
    assert second.ticket_id == new.id != ticket.id and new.requester_id == ticket.requester_id
    assert response.json["requester"]["email"] == "ann1@client.test"
    assert client.post(f"{BASE}/messages/{twin_second.id}/split").status_code == 302
    db.session.expire_all()
    assert _trail(db, ticket, new) == _trail(db, twin, db.session.get(Ticket, twin_second.ticket_id))
    assert ("ticket.split", "message_id", "new_ticket") in _trail(db, ticket)["audit"]


def test_split_without_a_body_and_its_refusals(db, api, inbox, headers):
    ticket, second = _thread(inbox, 3)
    other = _ticket(inbox, sender="bob@client.test")
    url = f"{API}/{ticket.id}/messages/{second.id}/split"
    version = ticket.version
    api.patch(f"{API}/{ticket.id}", json={"priority": "high"}, headers=headers)  # a change, not a message
    assert api.post(url, json={"version": version}, headers=headers).status_code == 409
    assert api.post(f"{API}/{other.id}/messages/{second.id}/split", headers=headers).status_code == 404
    assert set(field_errors(api.post(url, json={"version": "1"}, headers=headers))) == {"#/version"}
    assert api.post(url, headers=headers).status_code == 201  # no body: no version check
    db.session.expire_all()
    first = db.session.scalar(select(Message).where(Message.ticket_id == ticket.id))
    last = api.post(f"{API}/{ticket.id}/messages/{first.id}/split", headers=headers)
    assert last.status_code == 422 and last.mimetype == PROBLEM
    assert last.json["detail"] == "Only a mail of a ticket with more than one message can be split off."
    assert db.session.scalar(select(Message.ticket_id).where(Message.id == first.id)) == ticket.id


def test_a_split_leaves_the_next_number_free(db, api, inbox, headers):
    ticket, second = _thread(inbox, 5)
    assert api.post(f"{API}/{ticket.id}/messages/{second.id}/split", headers=headers).status_code == 201
    assert _ticket(inbox, subject="Another matter", sender="carl@client.test").number == 3


def test_bulk_changes_as_the_inbox_does(client, api, db, inbox, agent, headers, webhook_events, create_tenant):
    from app.queues.models import Queue

    hr = Queue(tenant_id=inbox.tenant.id, name="HR")
    rival = create_tenant("rival")
    theirs = Ticket(tenant_id=rival.id, number=1, reference="RIVAL-1", subject="Secret")
    db.session.add_all([hr, theirs])
    db.session.commit()
    a, b, done = (_ticket(inbox, subject=f"Ticket {n}", sender=f"s{n}@client.test") for n in range(3))
    api.post(f"{API}/bulk", json={"ids": [done.id], "status": "pending", "assignee_id": agent.id,
                                  "queue_id": hr.id}, headers=headers)
    webhook_events.clear()
    response = api.post(f"{API}/bulk", json={"ids": [a.id, theirs.id, b.id, done.id, a.id, 2_000_000_000],
                                             "status": "pending", "assignee_id": agent.id, "queue_id": hr.id},
                        headers=headers)
    assert response.status_code == 200
    assert [ticket["id"] for ticket in response.json["changed"]] == [a.id, b.id]
    assert response.json["changed"][0]["status"] == "pending"
    assert (response.json["unchanged"], response.json["skipped"]) == ([done.id], [theirs.id, 2_000_000_000])
    db.session.expire_all()
    assert (theirs.status, theirs.assignee_id, theirs.version) == (TicketStatus.OPEN, None, 1)
    assert len(webhook_events) == 6 and {event for event, _changes in webhook_events} == {"ticket.updated"}
    # The twin, through the inbox's bulk form: the same timeline entries, audit events and webhook events.
    twin = _ticket(inbox, subject="Ticket 9", sender="s9@client.test")
    api_events = list(webhook_events[:3])
    webhook_events.clear()
    client.post(f"{BASE}/bulk", data={"ids": [str(twin.id)], "set_assignee": str(agent.id),
                                      "set_status": "pending", "set_queue": str(hr.id)})
    assert _trail(db, a) == _trail(db, twin)
    assert webhook_events == api_events


def test_bulk_field_errors_change_nothing(db, api, inbox, headers, create_tenant, add_member):
    ticket = _ticket(inbox)
    version = ticket.version
    rival = create_tenant("rival")
    outsider = add_member(rival, Role.AGENT)
    from app.queues.models import Queue

    their_queue = Queue(tenant_id=rival.id, name="Theirs")
    db.session.add(their_queue)
    db.session.commit()
    url = f"{API}/bulk"
    bad = api.post(url, json={"ids": [ticket.id], "status": "gone", "assignee_id": outsider.id,
                              "queue_id": their_queue.id}, headers=headers)
    assert field_errors(bad) == {"#/status": "Choose a status from the list.",
                                 "#/assignee_id": "Choose an agent of this tenant.",
                                 "#/queue_id": "Choose a queue from the list."}
    ids = field_errors(api.post(url, json={"ids": [ticket.id, "2", 0, 2**31], "status": "closed"}, headers=headers))
    assert set(ids) == {"#/ids/1", "#/ids/2", "#/ids/3"}
    assert set(field_errors(api.post(url, json={"ids": [], "status": "closed"}, headers=headers))) == {"#/ids"}
    many = api.post(url, json={"ids": list(range(1, 202)), "status": "closed"}, headers=headers)
    assert set(field_errors(many)) == {"#/ids"}
    nothing = api.post(url, json={"ids": [ticket.id]}, headers=headers)
    assert nothing.status_code == 422 and "Choose what to change" in nothing.json["detail"]
    db.session.expire_all()
    assert (ticket.status, ticket.assignee_id, ticket.version) == (TicketStatus.OPEN, None, version)


def test_bulk_unassigns_and_clears_the_queue(db, api, inbox, headers):
    ticket = _ticket(inbox)
    response = api.post(f"{API}/bulk", json={"ids": [ticket.id], "assignee_id": None, "queue_id": None},
                        headers=headers)
    assert [t["id"] for t in response.json["changed"]] == [ticket.id]
    db.session.expire_all()
    assert (ticket.assignee_id, ticket.queue_id) == (None, None)


def test_requester_preferences_as_the_inbox_sets_them(client, api, db, inbox, agent, headers):
    ticket = _ticket(inbox, sender="Ann <ann@client.test>")
    url = f"{API}/{ticket.id}/requester"
    bad = api.patch(url, json={"locale": "xx", "timezone": "Mars/Olympus"}, headers=headers)
    assert field_errors(bad) == {"#/locale": "Choose one of the offered languages.",
                                 "#/timezone": "Choose a time zone from the list."}
    assert set(field_errors(api.patch(url, json={"notifications_opt_out": "maybe"}, headers=headers))) == {
        "#/notifications_opt_out"}
    response = api.patch(url, json={"locale": "ja", "timezone": "Asia/Tokyo", "notifications_opt_out": True},
                         headers=headers)
    assert response.status_code == 200
    assert {name: response.json[name] for name in ("email", "locale", "timezone", "notifications_opt_out")} == {
        "email": "ann@client.test", "locale": "ja", "timezone": "Asia/Tokyo", "notifications_opt_out": True}
    (entry,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "contact.updated"))
    assert entry.changes == {"locale": [None, "ja"], "timezone": [None, "Asia/Tokyo"],
                             "notifications_opt_out": [False, True]}
    assert entry.object_label == "ann@client.test"
    # Fields not given keep their values; an empty locale is null ("detect from their mail").
    assert api.patch(url, json={"locale": ""}, headers=headers).json["timezone"] == "Asia/Tokyo"
    db.session.expire_all()
    assert ticket.requester.locale is None
    # The inbox's form records the same change the same way.
    twin = _ticket(inbox, sender="Bob <bob@client.test>")
    client.post(f"{BASE}/{twin.id}/requester", data={
        **_form(client, twin.id, "requester"), "requester-locale": "ja", "requester-timezone": "Asia/Tokyo",
        "requester-notifications_opt_out": "y"})
    (portal_entry,) = db.session.scalars(select(AuditEvent).where(AuditEvent.object_label == "bob@client.test"))
    assert (portal_entry.action, portal_entry.changes) == (entry.action, entry.changes)


def test_a_ticket_without_requester_has_no_requester_to_change(db, api, inbox, headers):
    ticket = Ticket(tenant_id=inbox.tenant.id, number=900, reference="ACME-900", subject="Phoned in")
    db.session.add(ticket)
    db.session.commit()
    assert api.patch(f"{API}/{ticket.id}/requester", json={"locale": "de"}, headers=headers).status_code == 404


def test_another_tenants_tickets_and_messages_are_a_404(db, api, inbox, create_tenant, api_token):
    ticket, second = _thread(inbox, 4)
    version, other = ticket.version, api_token(create_tenant("other"))
    for method, path, body in (("POST", f"/{ticket.id}/merge", {"into": ticket.id}),
                               ("POST", f"/{ticket.id}/messages/{second.id}/split", None),
                               ("PATCH", f"/{ticket.id}/requester", {"locale": "de"})):
        response = api.open(f"{API}{path}", method=method, json=body, headers=other)
        assert response.status_code == 404 and response.mimetype == PROBLEM, (method, path)
    bulk = api.post(f"{API}/bulk", json={"ids": [ticket.id], "status": "closed"}, headers=other)
    assert bulk.json == {"changed": [], "unchanged": [], "skipped": [ticket.id]}
    db.session.expire_all()
    assert (ticket.status, ticket.version, second.ticket_id) == (TicketStatus.OPEN, version, ticket.id)
    assert ticket.requester.locale is None


def test_every_answer_is_documented(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    documented = {"/api/v1/tickets/{ticket_id}/merge": ("post", {"200", "404", "409", "422"}),
                  "/api/v1/tickets/{ticket_id}/messages/{message_id}/split": ("post", {"201", "404", "409", "422"}),
                  "/api/v1/tickets/bulk": ("post", {"200", "422"}),
                  "/api/v1/tickets/{ticket_id}/requester": ("patch", {"200", "404", "422"})}
    for path, (method, statuses) in documented.items():
        assert statuses <= set(paths[path][method]["responses"]), path

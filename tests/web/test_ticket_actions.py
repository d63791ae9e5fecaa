"""Agents acting on a ticket: fields, notes, replies, split, merge; the collision prompt; the live-update poll."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.tickets.models import Direction, Message, Ticket, TicketEvent, TicketStatus
from tenants.models import Role
from tests.fixtures.inbox import make_mail

BASE = "/t/acme/inbox"


def _ticket(inbox, **mail):
    return inbox.message_of(inbox.deliver(make_mail(**mail))).ticket


def _form(client, ticket_id: int, prefix: str) -> dict:
    """The hidden fields of one of the ticket page's forms, as the page rendered them."""
    html = client.get(f"{BASE}/{ticket_id}").get_data(as_text=True)
    return {name: value for name, value in re.findall(rf'name="({prefix}-\w+)"[^>]*value="([^"]*)"', html)}


def _events(db, ticket, kind: str) -> list[TicketEvent]:
    return list(db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                             TicketEvent.kind == kind)))


def _audit(db, action: str) -> list:
    from app.audit.models import AuditEvent

    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_fields_change_with_timeline_and_audit(client, db, inbox, agent):
    ticket = _ticket(inbox)
    form = _form(client, ticket.id, "fields")
    response = client.post(f"{BASE}/{ticket.id}/fields", data={
        **form, "fields-assignee": str(agent.id), "fields-status": "pending", "fields-priority": "urgent",
        "fields-queue": str(inbox.queue.id)})
    assert response.status_code == 302
    db.session.refresh(ticket)
    assert (ticket.assignee_id, ticket.status, ticket.priority.value) == (agent.id, TicketStatus.PENDING, "urgent")
    assert {e.detail["field"] for e in _events(db, ticket, "changed")} == {"assignee", "status", "priority"}
    assert all(e.actor_id == agent.id for e in _events(db, ticket, "changed"))
    assert _audit(db, "ticket.assignee") and _audit(db, "ticket.status")
    page = client.get(f"{BASE}/{ticket.id}").get_data(as_text=True)
    assert "Agent Smith" in page and "Status changed from Open to Pending." in page


def test_bad_field_values_get_field_messages_not_a_crash(client, db, inbox, agent, create_tenant, add_member):
    ticket = _ticket(inbox)
    outsider = add_member(create_tenant("other"), Role.AGENT)
    form = _form(client, ticket.id, "fields")
    response = client.post(f"{BASE}/{ticket.id}/fields", data={
        **form, "fields-assignee": str(outsider.id), "fields-status": "bogus", "fields-priority": "normal",
        "fields-queue": "abc"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in ("Choose an agent of this tenant.", "Choose a status from the list.",
                    "Choose a queue from the list."):
        assert message in html
    db.session.refresh(ticket)
    assert ticket.assignee_id is None and ticket.status == TicketStatus.OPEN


def test_note_is_kept_internal_and_reply_is_queued(client, db, inbox, agent):
    ticket = _ticket(inbox, subject="VPN down")
    client.post(f"{BASE}/{ticket.id}/notes", data={**_form(client, ticket.id, "note"), "note-body": "Call him."})
    client.post(f"{BASE}/{ticket.id}/replies", data={**_form(client, ticket.id, "reply"),
                                                     "reply-body": "We are on it."})
    messages = {m.direction: m for m in db.session.scalars(select(Message).where(Message.ticket_id == ticket.id))}
    note, reply = messages[Direction.NOTE], messages[Direction.OUTBOUND]
    assert note.text == "Call him." and note.delivery_status is None and note.author_id == agent.id
    assert reply.delivery_status == "queued" and reply.to == [["", "customer@client.test"]]
    assert reply.subject == f"Re: VPN down [#{ticket.reference}]"
    db.session.refresh(ticket)
    assert ticket.status == TicketStatus.PENDING  # waiting for the customer
    assert _events(db, ticket, "note_added") and _events(db, ticket, "reply_queued")


def test_empty_reply_is_refused_with_a_field_message(client, db, inbox, agent):
    ticket = _ticket(inbox)
    response = client.post(f"{BASE}/{ticket.id}/replies", data={**_form(client, ticket.id, "reply"),
                                                                "reply-body": "  "})
    assert response.status_code == 422 and "Write the reply first." in response.get_data(as_text=True)
    assert db.session.scalar(select(Message).where(Message.direction == Direction.OUTBOUND)) is None


def test_a_stale_reply_shows_what_changed_and_sends_only_when_confirmed(client, db, inbox, agent, add_member, login):
    ticket = _ticket(inbox)
    stale = _form(client, ticket.id, "reply")
    colleague = add_member(inbox.tenant, Role.AGENT, name="Bea Colleague")
    login(colleague)
    client.post(f"{BASE}/{ticket.id}/replies", data={**_form(client, ticket.id, "reply"),
                                                     "reply-body": "Answer from Bea."})
    login(agent)
    response = client.post(f"{BASE}/{ticket.id}/replies", data={**stale, "reply-body": "My answer."})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "This ticket changed since you opened it" in html and "Bea Colleague" in html and "Answer from Bea." in html
    assert "My answer." in html  # the agent's text is kept
    replies = lambda: db.session.scalars(select(Message.text).where(Message.direction == Direction.OUTBOUND)).all()  # noqa: E731
    assert replies() == ["Answer from Bea."]
    confirmed = dict(re.findall(r'name="(reply-\w+)"[^>]*value="([^"]*)"', html))
    assert confirmed["reply-confirm"] == "1"
    assert client.post(f"{BASE}/{ticket.id}/replies", data={**confirmed, "reply-body": "My answer."}).status_code == 302
    assert sorted(replies()) == ["Answer from Bea.", "My answer."]


def test_a_new_customer_mail_also_counts_as_a_change(client, db, inbox, agent):
    first = make_mail(subject="Printer", message_id="<p1@client.test>")
    ticket = inbox.message_of(inbox.deliver(first)).ticket
    stale = _form(client, ticket.id, "fields")
    inbox.deliver(make_mail(subject="Re: Printer", body="It is on fire now.",
                            headers={"In-Reply-To": "<p1@client.test>"}))
    response = client.post(f"{BASE}/{ticket.id}/fields", data={**stale, "fields-status": "closed",
                                                               "fields-priority": "normal"})
    assert response.status_code == 409 and "It is on fire now." in response.get_data(as_text=True)
    db.session.refresh(ticket)
    assert ticket.status == TicketStatus.OPEN


def test_split_moves_a_message_to_a_new_ticket(client, db, inbox, agent):
    ticket = inbox.message_of(inbox.deliver(make_mail(subject="Printer", message_id="<s1@client.test>"))).ticket
    second = inbox.message_of(inbox.deliver(make_mail(subject="Re: Printer", body="Also my laptop is broken.",
                                                      headers={"In-Reply-To": "<s1@client.test>"})))
    response = client.post(f"{BASE}/messages/{second.id}/split")
    db.session.refresh(second)
    new = db.session.get(Ticket, second.ticket_id)
    assert new.id != ticket.id and response.headers["Location"].endswith(f"/inbox/{new.id}")
    assert new.requester_id == ticket.requester_id
    assert _events(db, ticket, "split_out")[0].detail["ticket"] == new.reference
    assert _events(db, new, "split_from")[0].detail["ticket"] == ticket.reference
    # the last message of a ticket cannot be split off (the ticket would be empty)
    only = db.session.scalar(select(Message).where(Message.ticket_id == ticket.id))
    client.post(f"{BASE}/messages/{only.id}/split")
    db.session.refresh(only)
    assert only.ticket_id == ticket.id


def test_merge_moves_everything_and_closes_the_source(client, db, inbox, agent):
    source = _ticket(inbox, subject="Printer jam", sender="ann@client.test")
    target = _ticket(inbox, subject="Printer still jammed", sender="ann@client.test")
    response = client.post(f"{BASE}/{source.id}/merge", data={**_form(client, source.id, "merge"),
                                                              "merge-target": f"#{target.reference.lower()}"})
    assert response.headers["Location"].endswith(f"/inbox/{target.id}")
    db.session.refresh(source)
    assert source.status == TicketStatus.CLOSED and source.merged_into_id == target.id
    assert db.session.scalars(select(Message.ticket_id)).all() == [target.id, target.id]
    assert _events(db, target, "merged_from") and _audit(db, "ticket.merge")
    itself = client.post(f"{BASE}/{target.id}/merge", data={**_form(client, target.id, "merge"),
                                                            "merge-target": target.reference})
    assert itself.status_code == 422 and "cannot be merged into itself" in itself.get_data(as_text=True)
    missing = client.post(f"{BASE}/{target.id}/merge", data={**_form(client, target.id, "merge"),
                                                             "merge-target": "NOPE-1"})
    assert missing.status_code == 422 and "No other ticket has this reference." in missing.get_data(as_text=True)


def test_merge_into_another_tenants_ticket_is_refused(client, db, inbox, agent, create_tenant):
    source = _ticket(inbox)
    other = create_tenant("other")
    foreign = Ticket(tenant_id=other.id, number=1, reference="ACME-99", subject="theirs")
    db.session.add(foreign)
    db.session.commit()
    response = client.post(f"{BASE}/{source.id}/merge", data={**_form(client, source.id, "merge"),
                                                              "merge-target": "ACME-99"})
    assert response.status_code == 422
    assert db.session.get(Ticket, source.id).merged_into_id is None


def test_the_poll_answers_204_until_the_ticket_changes(client, db, inbox, agent):
    ticket = _ticket(inbox, message_id="<live1@client.test>")
    url = f"{BASE}/{ticket.id}/changes?version={ticket.version}"
    assert client.get(url).status_code == 204
    inbox.deliver(make_mail(subject="Re: Printer jam", body="Any news?",
                            headers={"In-Reply-To": "<live1@client.test>"}))
    changed = client.get(url)
    assert changed.status_code == 200 and changed.headers["HX-Trigger"] == "ticket-changed"
    db.session.refresh(ticket)
    assert f"version={ticket.version}" in changed.get_data(as_text=True)
    assert "Any news?" in client.get(f"{BASE}/{ticket.id}/thread").get_data(as_text=True)


def test_the_ticket_page_shows_the_requesters_other_tickets(client, db, inbox, agent):
    first = _ticket(inbox, subject="Printer jam", sender="ann@client.test")
    second = _ticket(inbox, subject="VPN down", sender="ann@client.test")
    html = client.get(f"{BASE}/{second.id}").get_data(as_text=True)
    assert f'href="{BASE}/{first.id}"' in html and "Other tickets of this requester" in html


def test_an_agent_sets_how_the_desk_writes_to_a_requester(client, db, inbox, agent):
    ticket = _ticket(inbox, sender="Ann <ann@client.test>")
    page = client.get(f"{BASE}/{ticket.id}").get_data(as_text=True)
    assert 'id="requester-form"' in page and "Detect from their mail" in page
    csrf = re.search(r'name="requester-csrf_token"[^>]*value="([^"]*)"', page)[1]
    bad = client.post(f"{BASE}/{ticket.id}/requester", data={"requester-csrf_token": csrf, "requester-locale": "xx",
                                                             "requester-timezone": "Mars/Olympus"})
    assert bad.status_code == 422
    assert "Choose one of the offered languages." in bad.get_data(as_text=True)
    response = client.post(f"{BASE}/{ticket.id}/requester", data={
        "requester-csrf_token": csrf, "requester-locale": "ja", "requester-timezone": "Asia/Tokyo",
        "requester-notifications_opt_out": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    requester = db.session.get(Ticket, ticket.id).requester
    assert (requester.locale, requester.timezone, requester.notifications_opt_out) == ("ja", "Asia/Tokyo", True)
    (entry,) = _audit(db, "contact.updated")
    assert entry.changes["locale"] == [None, "ja"] and entry.object_label == "ann@client.test"

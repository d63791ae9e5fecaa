"""Notices to requesters and agents: in the requester's language, gathered when a ticket changes fast, stopped when
a robot answers every mail, never for internal notes, blocked or redacted by the tenant's DLP rules."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.outbound.models import OutgoingMail, OutgoingStatus
from app.outbound.reconcile import reconcile
from app.tickets import actions
from app.tickets.models import Contact, Priority, TicketStatus
from tests.outbound.conftest import parsed
from tests.outbound.test_delivery import reply

pytestmark = pytest.mark.stack


def _text(raw: bytes) -> str:
    return parsed(raw).get_body(("plain",)).get_content()


def test_a_german_requester_gets_the_german_acknowledgement(db, desk, receive, deliver, smtp_server):
    receive(desk, desk.customer_mail("Drucker defekt", body=(
        "Guten Tag, unser Drucker im dritten Stock funktioniert seit heute Morgen nicht mehr. Können Sie bitte "
        "jemanden vorbeischicken? Vielen Dank und freundliche Grüße")))
    (ack,) = deliver()
    assert (ack.event, ack.status, ack.last_error) == ("acknowledgement", OutgoingStatus.SENT, None)
    (sent,) = smtp_server.messages
    assert "Ihre Anfrage" in parsed(sent.data)["Subject"] and "vielen Dank" in _text(sent.data)


def test_a_contacts_own_language_wins_over_the_language_of_the_mail(db, desk, receive, deliver, smtp_server):
    db.session.add(Contact(tenant_id=desk.tenant.id, email="ann@customer.test", name="Ann Lee", locale="fr"))
    db.session.commit()
    receive(desk, desk.customer_mail("Printer", body="Hello, the printer on the third floor is broken again."))
    deliver()
    (sent,) = smtp_server.messages
    assert "Bonjour" in _text(sent.data)


def test_five_changes_in_ten_seconds_make_one_notification_with_the_final_status(db, desk, receive, deliver, later,
                                                                                smtp_server):
    ticket = receive(desk, desk.customer_mail()).ticket
    deliver()
    smtp_server.clear()
    for status in ("pending", "resolved", "open", "pending", "resolved"):
        actions.set_status(desk.tenant, ticket, TicketStatus(status), actor=desk.agent)
        db.session.commit()
    waiting = list(db.session.scalars(select(OutgoingMail).where(OutgoingMail.event == "status_changed")))
    assert len(waiting) == 1 and waiting[0].status is OutgoingStatus.QUEUED
    assert deliver()[-1].status is OutgoingStatus.QUEUED  # still gathering changes: nothing sent yet
    later()  # OUTBOUND_NOTIFY_DELAY later: RQ's scheduler, or the outbox reconciler, starts its delivery
    assert reconcile("default")["mailboxes"] == 1
    deliver()
    (sent,) = smtp_server.messages
    assert "Resolved" in _text(sent.data) and sent.rcpt_tos == ["ann@customer.test"]


def test_a_robot_answering_every_mail_stops_getting_acknowledgements(app, db, client, desk, receive, deliver,
                                                                     smtp_server):
    limit = app.config["OUTBOUND_AUTO_PER_RECIPIENT_HOUR"]
    for n in range(limit + 2):  # a robot that answers each acknowledgement with a fresh mail, no auto headers
        receive(desk, desk.customer_mail(f"Your request {n}", sender="robot@vendor.test", body=f"Ticket {n} noted."))
    outbox = deliver()
    assert [o.status for o in outbox] == [OutgoingStatus.SENT] * limit + [OutgoingStatus.SUPPRESSED] * 2
    assert {o.status_reason for o in outbox[limit:]} == {"recipient_limit"}
    assert len(smtp_server.messages) == limit
    breaks = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "mail.loop_break")))
    assert len(breaks) == 2 and breaks[0].object_label == "robot@vendor.test"
    # The agents see it on the ticket: which mail Postroom sent about it, and why the last one was not.
    first, last = outbox[0], outbox[-1]
    shown = client.get(f"/t/acme/inbox/{first.ticket_id}").get_data(as_text=True)
    assert f'id="notice-{first.id}"' in shown and "Sent" in shown.split(f'id="notice-{first.id}"')[1][:600]
    held = client.get(f"/t/acme/inbox/{last.ticket_id}").get_data(as_text=True).split(f'id="notice-{last.id}"')[1]
    assert "Not sent" in held[:800] and "too many automatic mails to this address" in held[:800]


def test_internal_notes_are_never_sent(db, client, desk, receive, deliver, smtp_server):
    ticket = receive(desk, desk.customer_mail()).ticket
    deliver()
    smtp_server.clear()
    actions.add_note(desk.tenant, ticket, "The customer is on the VIP list; call them.", actor=desk.agent)
    db.session.commit()
    assert [o.event for o in deliver()] == ["acknowledgement"]
    assert smtp_server.messages == []


def test_a_dlp_rule_blocks_a_reply_with_a_card_number_and_tells_the_agent(db, client, desk, receive, deliver,
                                                                          smtp_server):
    from app.dlp.models import DlpRule
    from app.tickets.models import Message

    ticket = receive(desk, desk.customer_mail()).ticket
    db.session.add(DlpRule(tenant_id=desk.tenant.id, name="Cards", kind="card_number", action="block", enabled=True))
    db.session.commit()
    before = db.session.scalar(select(Message.id).order_by(Message.id.desc()))
    response = reply(client, ticket, "Your card 4111 1111 1111 1111 was charged.")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Cards" in page and "4111 1111 1111 1111" not in page.split("<textarea")[0]
    assert db.session.scalar(select(Message.id).order_by(Message.id.desc())) == before
    assert [o.event for o in deliver()] == ["acknowledgement"]


def test_a_redacting_rule_sends_the_reply_without_the_password(db, client, desk, receive, deliver, smtp_server):
    from app.dlp.models import DlpRule

    ticket = receive(desk, desk.customer_mail()).ticket
    deliver()
    smtp_server.clear()
    db.session.add(DlpRule(tenant_id=desk.tenant.id, name="Passwords", kind="password", action="redact",
                           enabled=True))
    db.session.commit()
    assert reply(client, ticket, "Your new login. Password: Sommer2026!").status_code == 302
    deliver()
    (sent,) = smtp_server.messages
    assert "Sommer2026!" not in _text(sent.data) and "[redacted]" in _text(sent.data)


def test_an_opted_out_requester_gets_replies_but_no_status_notices(db, client, desk, receive, deliver, later,
                                                                   smtp_server):
    ticket = receive(desk, desk.customer_mail()).ticket
    ticket.requester.notifications_opt_out = True
    db.session.commit()
    deliver()  # the acknowledgement: essential, sent whatever the opt-out
    actions.set_status(desk.tenant, ticket, TicketStatus.RESOLVED, actor=desk.agent)
    db.session.commit()
    later()
    outbox = deliver()
    assert [(o.event, o.status, o.status_reason) for o in outbox] == [
        ("acknowledgement", OutgoingStatus.SENT, None), ("status_changed", OutgoingStatus.SUPPRESSED, "opted_out")]


def test_an_escalation_to_every_agent_is_one_mail_with_the_agents_in_bcc(db, desk, add_member, receive, deliver,
                                                                         smtp_server):
    from tenants.models import Role

    colleagues = [add_member(desk.tenant, Role.AGENT, name=f"Colleague {n}") for n in range(2)]
    ticket = receive(desk, desk.customer_mail()).ticket
    deliver()
    smtp_server.clear()
    actions.set_priority(desk.tenant, ticket, Priority.URGENT, actor=desk.agent)
    db.session.commit()
    deliver()
    (sent,) = smtp_server.messages
    mail = parsed(sent.data)
    expected = {desk.tenant.owner.email, *(c.email for c in colleagues)}  # everyone but the agent who escalated
    assert set(sent.rcpt_tos) == expected and mail["Bcc"] is None
    assert not any(address in str(mail["To"]) for address in expected)
    assert ticket.reference in mail["Subject"]

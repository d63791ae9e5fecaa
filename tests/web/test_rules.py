"""The routing rules page: create, edit, reorder, (de)activate, delete, the rule tester, and rules routing real mail."""

from html import unescape

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.queues.models import Queue
from app.routing.models import RoutingRule
from app.rules import services
from app.rules.tester import try_rules
from app.tickets.models import Ticket
from tenants.models import Role
from tests.fixtures.inbox import make_mail

URL = "/t/acme/rules/"


def _queue(db, tenant, name: str) -> Queue:
    queue = Queue(tenant_id=tenant.id, name=name)
    db.session.add(queue)
    db.session.commit()
    return queue


def _rule(tenant, name: str, pattern: str, **fields) -> RoutingRule:
    return services.create_rule(tenant, name=name, pattern=pattern, **fields)


def _order(db, tenant) -> list[tuple[int, str]]:
    db.session.expire_all()  # the requests changed the rows in their own sessions
    return [(rule.position, rule.name) for rule in services.rules(tenant)]


def _tickets(db, tenant) -> list[Ticket]:
    return list(db.session.scalars(select(Ticket).where(Ticket.tenant_id == tenant.id).order_by(Ticket.id)))


def _actions(db, tenant) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.tenant_id == tenant.id, AuditEvent.object_type == "routing_rule").order_by(AuditEvent.id)))


@pytest.fixture
def acme(db, create_tenant, login):
    tenant = create_tenant("acme")
    login(tenant.owner)
    return tenant


def test_admin_creates_a_rule_and_sees_it_listed(client, db, acme):
    ops = _queue(db, acme, "Operations")
    response = client.post(URL, data={"name": "Outages", "field": "subject", "pattern": r"outage|down",
                                      "queue_id": str(ops.id), "category": " incident ", "priority": "urgent",
                                      "stop": "y", "active": "y"})
    assert response.status_code == 302
    rule = db.session.scalar(select(RoutingRule).where(RoutingRule.tenant_id == acme.id))
    assert (rule.name, rule.field, rule.pattern, rule.queue_id, rule.category, rule.priority, rule.stop,
            rule.active, rule.position) == ("Outages", "subject", "outage|down", ops.id, "incident", "urgent", True,
                                             True, 1)
    html = client.get(URL).get_data(as_text=True)
    assert "Rule Outages created." in html
    for text in ("<code>outage|down</code>", "Queue: Operations", "Category: incident", "Priority: Urgent",
                 "Stops the list", "<td>Active</td>", "<td>Subject</td>"):
        assert text in html
    assert _actions(db, acme) == ["rule.created"]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("name", " ", "This field is required."),
    ("name", "n" * 121, "Use at most 120 characters."),
    ("pattern", "", "This field is required."),
    ("pattern", "(unclosed", "This is not a valid regular expression: missing ) at position 9"),
    ("pattern", "x" * 501, "Use at most 500 characters."),
    ("field", "headers", "Choose one of: subject, body, sender, any."),
    ("priority", "critical", "Choose one of: low, normal, high, urgent."),
    ("queue_id", "12345678901", "Choose one of your queues."),
    ("queue_id", "IT", "Choose one of your queues."),
    ("category", "c" * 81, "Use at most 80 characters."),
])
def test_each_field_says_what_is_wrong(client, db, acme, field, value, message):
    data = {"name": "Outages", "field": "subject", "pattern": "outage", "queue_id": "", "priority": "", **{
        field: value}}
    response = client.post(URL, data=data)
    assert response.status_code == 422
    html = unescape(response.get_data(as_text=True))
    assert f'id="{field}-error" class="error" role="alert">{message}' in html
    assert db.session.scalar(select(func.count()).select_from(RoutingRule)) == 0


def test_another_tenants_queue_is_refused(client, db, acme, create_tenant):
    theirs = _queue(db, create_tenant("globex"), "Theirs")
    response = client.post(URL, data={"name": "R", "field": "any", "pattern": "x", "queue_id": str(theirs.id)})
    assert 'id="queue_id-error"' in response.get_data(as_text=True)
    assert "Theirs" not in response.get_data(as_text=True)


def test_edit_saves_with_a_diff_and_shows_regex_errors_next_to_the_pattern(client, db, acme):
    rule = _rule(acme, "Invoices", r"invoice\s+\d+", field="body", category="billing")
    edit = f"/t/acme/rules/{rule.id}/edit"
    form = client.get(edit).get_data(as_text=True)
    assert 'value="invoice\\s+\\d+"' in form and '<option selected value="body">' in form
    bad = client.post(edit, data={"name": "Invoices", "field": "body", "pattern": "[unclosed", "priority": ""})
    assert bad.status_code == 422
    assert 'id="pattern-error" class="error" role="alert">This is not a valid regular expression: unterminated ' \
           "character set at position 9" in unescape(bad.get_data(as_text=True))
    db.session.refresh(rule)
    assert rule.pattern == r"invoice\s+\d+"
    saved = client.post(edit, data={"name": "Invoices", "field": "body", "pattern": r"invoice|bill",
                                    "category": "billing", "priority": "high", "active": "y"})
    assert saved.status_code == 302
    db.session.refresh(rule)
    assert (rule.pattern, rule.priority, rule.category, rule.active) == ("invoice|bill", "high", "billing", True)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "rule.updated"))
    assert event.changes == {"pattern": [r"invoice\s+\d+", "invoice|bill"], "priority": [None, "high"]}
    assert event.object_id == rule.id and event.object_label == "Invoices"


def test_move_up_and_down_keeps_positions_one_to_n(client, db, acme):
    first, _second, third = (_rule(acme, name, name.lower()) for name in ("First", "Second", "Third"))
    client.post(f"/t/acme/rules/{third.id}/move?direction=up")
    assert _order(db, acme) == [(1, "First"), (2, "Third"), (3, "Second")]
    client.post(f"/t/acme/rules/{first.id}/move?direction=up")  # already first: stays
    client.post(f"/t/acme/rules/{first.id}/move?direction=down")
    assert _order(db, acme) == [(1, "Third"), (2, "First"), (3, "Second")]
    html = client.get(URL).get_data(as_text=True)
    assert html.index("<td>Third</td>") < html.index("<td>First</td>") < html.index("<td>Second</td>")
    assert client.post(f"/t/acme/rules/{first.id}/move?direction=sideways").status_code == 400
    assert _actions(db, acme).count("rule.updated") == 2


def test_deactivate_activate_and_delete_with_confirmation(client, db, acme):
    rule = _rule(acme, "Outages", "outage")
    _rule(acme, "Other", "other")
    client.post(f"/t/acme/rules/{rule.id}/deactivate")
    db.session.refresh(rule)
    assert rule.active is False and "<td>Inactive</td>" in client.get(URL).get_data(as_text=True)
    client.post(f"/t/acme/rules/{rule.id}/activate")
    db.session.refresh(rule)
    assert rule.active is True
    confirm = client.get(f"/t/acme/rules/{rule.id}/delete").get_data(as_text=True)
    assert "Delete rule Outages?" in confirm and 'id="confirm-delete"' in confirm
    assert _order(db, acme) == [(1, "Outages"), (2, "Other")]  # showing the question deletes nothing
    assert client.post(f"/t/acme/rules/{rule.id}/delete").status_code == 302
    assert _order(db, acme) == [(1, "Other")]
    assert _actions(db, acme) == ["rule.created", "rule.created", "rule.updated", "rule.updated", "rule.deleted"]


def test_agents_get_403_and_no_nav_entry(client, db, create_tenant, add_member, login):
    tenant = create_tenant("acme")
    rule = _rule(tenant, "Outages", "outage")
    login(add_member(tenant, Role.AGENT))
    assert client.get(URL).status_code == 403
    assert client.post(URL, data={"name": "Mine", "field": "any", "pattern": "x"}).status_code == 403
    for path in ("edit", "delete", "deactivate", "move?direction=up"):
        assert client.post(f"/t/acme/rules/{rule.id}/{path}", data={"name": "Mine"}).status_code == 403, path
    assert client.post("/t/acme/rules/test", data={"subject": "outage"}).status_code == 403
    assert f'href="{URL}"' not in client.get("/t/acme/").get_data(as_text=True)


def test_admins_see_the_nav_entry(client, db, acme):
    assert f'href="{URL}"' in client.get("/t/acme/").get_data(as_text=True)


def test_another_tenants_rule_is_404(client, db, acme, create_tenant):
    rule = _rule(create_tenant("globex"), "Secret rule", "secret")
    base = f"/t/acme/rules/{rule.id}"
    for path in (f"{base}/edit", f"{base}/delete"):
        assert client.get(path).status_code == 404, path
    for path in (f"{base}/edit", f"{base}/delete", f"{base}/activate", f"{base}/deactivate",
                 f"{base}/move?direction=up"):
        assert client.post(path, data={"name": "pwned", "field": "any", "pattern": "x"}).status_code == 404, path
    db.session.refresh(rule)
    assert (rule.name, rule.active) == ("Secret rule", True)
    assert "Secret rule" not in client.get(URL).get_data(as_text=True)
    tested = client.post("/t/acme/rules/test", data={"subject": "secret"}).get_data(as_text=True)
    assert "Secret rule" not in tested


def test_the_tester_answers_htmx_with_the_result_box_alone(client, db, acme):
    ops = _queue(db, acme, "Operations")
    _rule(acme, "Off", ".", field="any", active=False, priority="low")
    _rule(acme, "Outages", r"outage|down", queue_id=ops.id, priority="urgent", stop=True)
    _rule(acme, "Invoices", "invoice", field="body", category="billing")
    _rule(acme, "From the board", "@board", field="sender", category="board")
    response = client.htmx("POST", "/t/acme/rules/test", target="rule-test-result",
                           data={"sender": "Jo <jo@client.test>", "subject": "Site DOWN", "body": "invoice"})
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert html.startswith('<div id="rule-test-result"') and "<html" not in html
    assert 'class="rule-test-inactive"' in html and "Inactive: skipped" in html
    assert "Matches “DOWN”" in html
    assert html.count("Not reached: Outages stopped the list") == 2
    assert "Queue: Operations" in html and "Priority: Urgent" in html and "Category: none" in html
    other = unescape(client.htmx("POST", "/t/acme/rules/test", target="rule-test-result", data={
        "sender": "chair@board.test", "subject": "Hello", "body": "your invoice"}).get_data(as_text=True))
    assert "Matches “invoice”" in other and "Matches “@board”" in other and "Category: board" in other
    assert "Queue: the one of the address the mail was sent to" in other


def test_the_tester_works_without_javascript_and_knows_vips(client, db, acme):
    acme.vip_senders = ["@board.test"]
    db.session.commit()
    _rule(acme, "Everything", ".", field="any", priority="low")
    response = client.post("/t/acme/rules/test", data={"sender": "chair@board.test", "subject": "Hi", "body": "x"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in html and 'id="new-rule"' in html
    assert "chair@board.test is a VIP" in html and "Priority: High" in html


def test_rules_created_in_the_portal_route_delivered_mail(client, db, inbox, login):
    login(inbox.tenant.owner)
    ops = _queue(db, inbox.tenant, "Operations")
    client.post("/t/acme/rules/", data={"name": "Outages", "field": "subject", "pattern": r"outage|\bdown\b",
                                        "queue_id": str(ops.id), "priority": "urgent", "category": "incident",
                                        "active": "y"})
    client.post("/t/acme/rules/", data={"name": "Invoices", "field": "body", "pattern": r"invoice\s+\d+",
                                        "category": "billing", "active": "y"})
    mails = [{"subject": "Website down since 9:00", "body": "Please help"},
             {"subject": "Question", "body": "About invoice 4711"},
             {"subject": "Printer jam", "body": "Floor 3"}]
    for mail in mails:
        ticket = inbox.message_of(inbox.deliver(make_mail(**mail))).ticket
        trial = try_rules(inbox.tenant, sender="customer@client.test", **mail)
        # the tester predicts what the pipeline did
        assert ticket.queue_id == (trial.queue.id if trial.queue else inbox.queue.id)
        assert (trial.category, trial.priority) == (ticket.category, ticket.priority.value)
    assert [t.queue_id for t in _tickets(db, inbox.tenant)] == [ops.id, inbox.queue.id, inbox.queue.id]
    assert [t.category for t in _tickets(db, inbox.tenant)] == ["incident", "billing", None]
    assert [t.priority.value for t in _tickets(db, inbox.tenant)] == ["urgent", "normal", "normal"]

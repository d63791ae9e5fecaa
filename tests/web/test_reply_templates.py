"""Reply templates: admins keep them (field messages, audit, roles, tenants); agents insert one into a reply, its merge
fields filled for the ticket, after what they had written."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.replies import services
from app.replies.models import ReplyTemplate
from tenants.models import Role
from tests.fixtures.inbox import Inbox, make_mail

URL = "/t/acme/reply-templates/"
INBOX = "/t/acme/inbox"
GREETING = "Hello {{ requester_name }},\n\nabout {{ ticket_reference }} ({{ ticket_subject }}):"
SIGNATURE = "{{agent_name}} for {{ tenant_name }} <{{ requester_email }}>"


@pytest.fixture
def admin(inbox, login):
    login(inbox.tenant.owner)
    return inbox.tenant.owner


def _template(tenant, name: str = "Greeting", body: str = GREETING) -> ReplyTemplate:
    return services.create_template(tenant, name=name, body=body)


def _ticket(inbox, **mail):
    return inbox.message_of(inbox.deliver(make_mail(**mail))).ticket


def _names(db, tenant) -> list[str]:
    db.session.expire_all()  # the requests changed the rows in their own sessions
    return [template.name for template in services.reply_templates(tenant)]


def _textarea(html: str) -> str:
    """The reply box's text, as the browser would show it."""
    match = re.search(r'<textarea[^>]*id="reply-body"[^>]*>\r?\n?(.*?)</textarea>', html, re.DOTALL)
    assert match, html
    return unescape(match.group(1))


def test_admin_creates_edits_and_deletes_with_audit(client, db, inbox, admin):
    response = client.post(URL, data={"name": "Greeting", "body": GREETING.replace("\n", "\r\n")})
    assert response.status_code == 302
    template = db.session.scalar(select(ReplyTemplate).where(ReplyTemplate.tenant_id == inbox.tenant.id))
    assert (template.name, template.body) == ("Greeting", GREETING)  # CRLF from the textarea stored as LF
    page = client.get(URL).get_data(as_text=True)
    assert "Greeting" in page and f"/t/acme/reply-templates/{template.id}/edit" in page
    assert "{{ requester_name }}" in page  # the merge fields are listed for admins
    edit = client.get(f"{URL}{template.id}/edit").get_data(as_text=True)
    assert 'value="Greeting"' in edit and "Hello {{ requester_name }}," in edit
    saved = client.post(f"{URL}{template.id}/edit", data={"name": "Hello", "body": SIGNATURE})
    assert saved.status_code == 302
    db.session.refresh(template)
    assert (template.name, template.body) == ("Hello", SIGNATURE)
    template_id = template.id
    assert client.post(f"{URL}{template_id}/delete").status_code == 302
    assert _names(db, inbox.tenant) == []
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.object_type == "reply_template")
                                     .order_by(AuditEvent.id)))
    assert [e.action for e in events] == ["reply_template.created", "reply_template.updated",
                                          "reply_template.deleted"]
    assert all(e.object_id == template_id and e.actor_user_id == admin.id for e in events)
    # The name's change is in the log; the text's only as "changed" (it may be 20,000 characters long).
    assert events[1].changes == {"name": ["Greeting", "Hello"], "body": "changed"}


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"name": "", "body": "Hi"}, "name", "This field is required."),
    ({"name": "   ", "body": "Hi"}, "name", "This field is required."),
    ({"name": "x" * 121, "body": "Hi"}, "name", "Use at most 120 characters."),
    ({"name": "greeting", "body": "Hi"}, "name", "A template with this name already exists."),
    ({"name": "  GREETING ", "body": "Hi"}, "name", "A template with this name already exists."),
    ({"name": "Empty", "body": " \r\n "}, "body", "This field is required."),
    ({"name": "Long", "body": "x" * 20_001}, "body", "Use at most 20000 characters."),
    ({"name": "Typo", "body": "Hi {{ requester_nmae }} and {{ order_id }}, {{ order_id }}"}, "body",
     "Unknown merge fields {{ requester_nmae }}, {{ order_id }}."),
])
def test_create_refusals_are_field_messages(client, db, inbox, admin, data, field, message):
    _template(inbox.tenant)
    response = client.post(URL, data=data)
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert re.search(rf'id="{field}-error"[^>]*>[^<]*{re.escape(message)}', html), html
    assert _names(db, inbox.tenant) == ["Greeting"]


def test_a_body_at_the_limit_and_a_name_of_120_are_accepted(client, db, inbox, admin):
    response = client.post(URL, data={"name": "n" * 120, "body": "x" * 20_000})
    assert response.status_code == 302
    assert _names(db, inbox.tenant) == ["n" * 120]


@pytest.mark.parametrize("body", [
    "{{ config }}", "{{config.SECRET_KEY}}", "{{ ''.__class__.__mro__ }}", "{{ request.environ }}",
    "{{ self }}", "Hi {{ requester_name }} {{ cycler.__init__.__globals__.os }}", "{{requester_name|e}}",
])
def test_template_code_cannot_be_saved(client, db, inbox, admin, body):
    response = client.post(URL, data={"name": "Sneaky", "body": body})
    assert response.status_code == 422
    assert 'id="body-error"' in response.get_data(as_text=True) and "Unknown merge field" in unescape(
        response.get_data(as_text=True))
    assert _names(db, inbox.tenant) == []


def test_edit_refusals_are_field_messages_and_change_nothing(client, db, inbox, admin):
    greeting, other = _template(inbox.tenant), _template(inbox.tenant, "Other", "Bye")
    duplicate = client.post(f"{URL}{other.id}/edit", data={"name": "GREETING", "body": "{{ config }}"})
    html = unescape(duplicate.get_data(as_text=True))
    assert duplicate.status_code == 422
    assert 'id="body-error"' in html and "Unknown merge field {{ config }}." in html
    client.post(f"{URL}{other.id}/edit", data={"name": "greeting", "body": "Bye"})
    db.session.expire_all()
    assert (db.session.get(ReplyTemplate, other.id).name, db.session.get(ReplyTemplate, greeting.id).name) == (
        "Other", "Greeting")
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "reply_template.updated")) is None


def test_agents_are_refused_the_admin_pages(client, db, inbox, agent):
    template = _template(inbox.tenant)
    for method, path in (("GET", URL), ("POST", URL), ("GET", f"{URL}{template.id}/edit"),
                         ("POST", f"{URL}{template.id}/edit"), ("POST", f"{URL}{template.id}/delete")):
        assert client.open(path, method=method, data={"name": "Mine", "body": "Hi"}).status_code == 403, path
    assert _names(db, inbox.tenant) == ["Greeting"]
    nav = client.get(INBOX + "/").get_data(as_text=True)
    assert "/t/acme/reply-templates/" not in nav


def test_admins_find_the_page_in_the_navigation(client, db, inbox, admin):
    nav = client.get(INBOX + "/").get_data(as_text=True)
    assert re.search(r'<a href="/t/acme/reply-templates/"[^>]*>Templates</a>', nav)


def test_another_tenants_template_is_404(client, db, inbox, admin, create_tenant):
    secret = _template(create_tenant("victim"), "Secret", "Victim text {{ tenant_name }}")
    ticket = _ticket(inbox)
    for method, path in (("GET", f"{URL}{secret.id}/edit"), ("POST", f"{URL}{secret.id}/edit"),
                         ("POST", f"{URL}{secret.id}/delete")):
        assert client.open(path, method=method, data={"name": "pwned", "body": "x"}).status_code == 404, path
    insert = client.htmx("GET", f"{INBOX}/{ticket.id}/reply-template?template={secret.id}&reply-body=Draft",
                         target="reply-body-field")
    html = insert.get_data(as_text=True)
    assert insert.status_code == 404 and "Victim" not in html and "Secret" not in html
    assert _textarea(html) == "Draft"  # the agent's draft survives the refusal
    db.session.expire_all()
    assert db.session.get(ReplyTemplate, secret.id).name == "Secret"
    assert "Secret" not in client.get(URL).get_data(as_text=True)
    assert "Secret" not in client.get(f"{INBOX}/{ticket.id}").get_data(as_text=True)


def test_another_tenants_ticket_is_404_even_with_an_own_template(client, db, inbox, admin, create_tenant,
                                                                  new_mailbox):
    template = _template(inbox.tenant)
    victim = create_tenant("victim")
    victim_inbox = Inbox(victim, new_mailbox(victim, "help@victim.test"), None)
    victim_ticket = victim_inbox.message_of(victim_inbox.deliver(make_mail(to="help@victim.test"))).ticket
    for method in ("GET", "POST"):
        response = client.open(f"{INBOX}/{victim_ticket.id}/reply-template", method=method,
                               query_string={"template": template.id})
        assert response.status_code == 404, method


def test_the_ticket_page_offers_the_tenants_templates(client, db, inbox, agent, create_tenant):
    _template(inbox.tenant, "Greeting")
    _template(inbox.tenant, "Apology", "Sorry!")
    _template(create_tenant("other"), "Not ours", "x")
    html = client.get(f"{INBOX}/{_ticket(inbox).id}").get_data(as_text=True)
    picker = re.search(r'<label for="reply-template">Insert a template</label>\s*<select id="reply-template"'
                       r' name="template"(.*?)</select>', html, re.DOTALL)
    assert picker, html
    assert re.findall(r'<option value="\d+">([^<]*)</option>', picker.group(1)) == ["Apology", "Greeting"]
    assert 'hx-include="#reply-body"' in picker.group(1) and 'hx-target="#reply-body-field"' in picker.group(1)
    # The reply box keeps its id, name and label, under the picker.
    assert html.index('id="reply-template"') < html.index('<label for="reply-body">Reply</label>')
    assert re.search(r'<textarea[^>]*id="reply-body"[^>]*name="reply-body"', html)


def test_without_templates_admins_get_a_link_and_agents_no_picker(client, db, inbox, add_member, login):
    ticket = _ticket(inbox)
    login(inbox.tenant.owner)
    page = client.get(f"{INBOX}/{ticket.id}").get_data(as_text=True)
    assert 'id="reply-template"' not in page
    assert re.search(r'id="reply-templates-hint">No reply templates yet\. <a href="/t/acme/reply-templates/">', page)
    login(add_member(inbox.tenant, Role.AGENT))
    page = client.get(f"{INBOX}/{ticket.id}").get_data(as_text=True)
    assert 'id="reply-template"' not in page and "reply-templates-hint" not in page
    assert 'id="reply-body"' in page


def test_insert_appends_the_rendered_template_to_the_draft(client, db, inbox, agent):
    template = _template(inbox.tenant, "Greeting", GREETING + "\n" + SIGNATURE)
    ticket = _ticket(inbox, sender="Jo Bloggs <jo@client.test>", subject="VPN <down> & out")
    draft = "Quick note first: <b>bold</b> & more.\r\n\r\n"
    response = client.htmx("GET", f"{INBOX}/{ticket.id}/reply-template",
                           query_string={"template": template.id, "reply-body": draft}, target="reply-body-field")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert html.lstrip().startswith('<div id="reply-body-field">') and "<html" not in html  # the partial only
    expected = (f"Quick note first: <b>bold</b> & more.\n\nHello Jo Bloggs,\n\nabout {ticket.reference} "
                f"(VPN <down> & out):\nAgent Smith for Acme <jo@client.test>")
    assert _textarea(html) == expected
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more." in html and "VPN &lt;down&gt; &amp; out" in html
    assert "<b>bold</b>" not in html and "<down>" not in html
    assert "autofocus" in html and 'name="reply-body"' in html


def test_insert_by_post_as_the_page_sends_it(client, db, inbox, agent):
    template = _template(inbox.tenant, "Sign-off", "Best, {{ agent_name }}")
    ticket = _ticket(inbox)
    long_draft = "x" * 10_000  # far beyond what a server takes in a request line
    response = client.htmx("POST", f"{INBOX}/{ticket.id}/reply-template", target="reply-body-field",
                           data={"template": str(template.id), "reply-body": long_draft, "reply-version": "1"})
    assert response.status_code == 200
    assert _textarea(response.get_data(as_text=True)) == long_draft + "\n\nBest, Agent Smith"


def test_no_template_chosen_gives_the_draft_back_and_empty_draft_gets_the_template_alone(client, db, inbox, agent):
    template = _template(inbox.tenant, "Sign-off", "Best, {{ agent_name }}")
    ticket = _ticket(inbox)
    url = f"{INBOX}/{ticket.id}/reply-template"
    for template_param in ("", "abc"):
        response = client.htmx("GET", url, query_string={"template": template_param, "reply-body": "Mine"},
                               target="reply-body-field")
        assert response.status_code == 200 and _textarea(response.get_data(as_text=True)) == "Mine"
    alone = client.htmx("GET", url, query_string={"template": template.id, "reply-body": "  \n"},
                        target="reply-body-field")
    assert _textarea(alone.get_data(as_text=True)) == "Best, Agent Smith"


def test_merge_values_are_not_read_as_merge_fields(client, db, inbox, agent):
    template = _template(inbox.tenant, "Echo", "Re: {{ ticket_subject }} / {{ requester_name }}")
    ticket = _ticket(inbox, subject="{{ agent_name }} {{ config }}", sender="{{ tenant_name }} <x@client.test>")
    response = client.htmx("GET", f"{INBOX}/{ticket.id}/reply-template", query_string={"template": template.id},
                           target="reply-body-field")
    text = _textarea(response.get_data(as_text=True))
    assert text.startswith("Re: {{ agent_name }} {{ config }} / ")
    assert "Agent Smith" not in text and "Acme" not in text


def test_without_javascript_the_insert_button_gives_the_whole_page(client, db, inbox, agent):
    template = _template(inbox.tenant, "Sign-off", "Best, {{ agent_name }}")
    ticket = _ticket(inbox)
    page = client.get(f"{INBOX}/{ticket.id}").get_data(as_text=True)
    assert re.search(r'<noscript><button type="submit" formaction="/t/acme/inbox/\d+/reply-template"', page)
    version = re.search(r'name="reply-version"[^>]*value="(\d+)"', page).group(1)
    response = client.post(f"{INBOX}/{ticket.id}/reply-template", data={
        "template": str(template.id), "reply-body": "Thanks.", "reply-version": version, "reply-opened_at": "x"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="reply-form"' in html and 'id="note-form"' in html
    assert _textarea(html) == "Thanks.\n\nBest, Agent Smith"
    assert re.search(rf'name="reply-version"[^>]*value="{version}"', html)  # the draft's version is kept


def test_render_and_unknown_fields(db, inbox, add_member):
    agent = add_member(inbox.tenant, Role.AGENT, name="", email="nameless@acme.test")
    ticket = _ticket(inbox, sender="plain@client.test")
    template = ReplyTemplate(tenant_id=inbox.tenant.id, name="t", body="{{requester_name}}|{{ agent_name }}|{{ x }}")
    assert services.render(template, ticket, agent) == "plain@client.test|nameless@acme.test|{{ x }}"
    assert services.unknown_fields("{{ a }} {{a}} {{ requester_name }} {{ b.c() }} {single}") == ["a", "b.c()"]
    assert services.append("Draft  \n", "T") == "Draft\n\nT" and services.append("", "T") == "T"

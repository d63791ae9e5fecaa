"""The notification-template editor: admins override the built-in text per event and language, see a live preview,
and reset; every change is audited; agents and other tenants get nothing."""

from __future__ import annotations

from html import unescape

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.notify.defaults import builtin
from app.notify.models import NotificationTemplate
from app.notify.rendering import render_notification
from tenants.models import Role

URL = "/t/acme/notification-templates/"
EDIT = f"{URL}acknowledgement/de"
SUBJECT = "Eingang: {{ ticket_subject }}"
BODY = "Hallo {{ requester_name }},\n\nwir haben {{ ticket_reference }} am {{ when|date }} erhalten."


@pytest.fixture
def tenant(create_tenant):
    return create_tenant("acme", locale="de", timezone="Europe/Berlin")


@pytest.fixture
def admin(tenant, add_member, login):
    user = add_member(tenant, Role.ADMIN, locale="en")  # the portal in English; the templates edited are German
    login(user)
    return user


def _stored(db, tenant) -> list[NotificationTemplate]:
    db.session.expire_all()  # the requests changed the rows in their own sessions
    return list(db.session.scalars(NotificationTemplate.all(tenant).order_by(NotificationTemplate.id)))


def _text(response) -> str:
    return unescape(response.get_data(as_text=True))


def test_the_list_shows_every_event_and_language(client, db, tenant, admin):
    page = _text(client.get(URL))
    for event in ("acknowledgement", "agent_reply", "status_changed", "escalation", "attachment_withheld",
                  "reauth_required", "delivery_failed", "invitation", "mailbox_failing"):
        for locale in ("en", "de", "fr", "es", "ja"):
            assert f'href="{URL}{event}/{locale}"' in page, (event, locale)
    assert "Customised" not in page and "Requesters may opt out" in page
    assert page.index("Deutsch") < page.index("English")  # the tenant's default language first
    # The reply-templates page and this one link to each other.
    assert f'href="{URL}"' in _text(client.get("/t/acme/reply-templates/"))
    assert 'href="/t/acme/reply-templates/"' in page


def test_the_editor_starts_from_the_built_in_text_with_a_preview(client, db, tenant, admin):
    page = _text(client.get(EDIT))
    subject, body = builtin("acknowledgement", "de")
    assert f'value="{subject}"' in page and body.splitlines()[2] in page
    assert 'id="notification-preview"' in page and "Ihre Anfrage ist bei uns eingegangen" in page
    assert "{{ ticket_reference }}" in page and "{{ reply_text }}" not in page  # this event's merge fields
    assert f'hx-post="{EDIT}/preview"' in page and 'hx-trigger="input delay:500ms"' in page
    assert "<script>" not in page and "style=" not in page  # strict CSP: no inline script or style
    assert "reset-notification-template" not in page  # nothing to reset yet


def test_save_edit_and_reset_are_audited(client, db, tenant, admin):
    response = client.post(EDIT, data={"subject": SUBJECT, "body": BODY.replace("\n", "\r\n")})
    assert response.status_code == 302
    [template] = _stored(db, tenant)
    assert (template.event, template.locale, template.subject, template.body) == ("acknowledgement", "de", SUBJECT,
                                                                                  BODY)
    assert template.updated_by_id == admin.id
    assert "Customised" in _text(client.get(URL))
    rendered = render_notification(tenant, "acknowledgement", "de", {"ticket_subject": "Drucker",
                                                                      "ticket_reference": "ACME-1"})
    assert rendered.subject == "Eingang: Drucker" and "wir haben ACME-1 am" in rendered.text
    assert client.post(EDIT, data={"subject": "Neu: {{ ticket_subject }}", "body": BODY}).status_code == 302
    edit_page = _text(client.get(EDIT))
    assert 'value="Neu: {{ ticket_subject }}"' in edit_page and "reset-notification-template" in edit_page
    assert client.post(f"{EDIT}/reset").status_code == 302
    assert _stored(db, tenant) == []
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.object_type == "notification_template")
                                     .order_by(AuditEvent.id)))
    assert [e.action for e in events] == ["notification_template.created", "notification_template.updated",
                                          "notification_template.reset"]
    assert all(e.actor_user_id == admin.id and e.object_label == "acknowledgement (de)" for e in events)
    assert events[1].changes == {"subject": ["Eingang: {{ ticket_subject }}", "Neu: {{ ticket_subject }}"]}
    assert client.post(f"{EDIT}/reset").status_code == 302  # nothing left to reset: nothing happens


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"subject": "Hi", "body": "Hallo,\n\n{{ ticket_reference }\n"}, "body", "Line 3: unexpected '}'"),
    ({"subject": "{{ ticket_subjet }}", "body": "x"}, "subject",
     "Line 1: Unknown merge field “ticket_subjet”: did you mean “ticket_subject”?"),
    ({"subject": "Hi", "body": "a\n{{ config }}"}, "body", "Line 2: Unknown merge field “config”."),
    ({"subject": "Hi", "body": "{{ ticket_subject.__class__ }}"}, "body", "Line 1: Merge fields have no attributes"),
    ({"subject": "", "body": "x"}, "subject", "This field is required."),
])
def test_a_template_that_would_fail_is_refused_with_the_line(client, db, tenant, admin, data, field, message):
    response = client.post(EDIT, data=data)
    assert response.status_code == 422
    page = _text(response)
    assert f'id="{field}-error"' in page and message in page
    assert _stored(db, tenant) == []


def test_the_preview_answers_htmx_with_the_partial(client, db, tenant, admin):
    response = client.htmx("POST", f"{EDIT}/preview", target="notification-preview",
                           data={"subject": SUBJECT, "body": BODY})
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    html = _text(response)
    assert html.lstrip().startswith('<section class="card" id="notification-preview"') and "<html" not in html
    assert "Eingang: Drucker im 3. Stock klemmt" in html  # German sample values
    assert "Hallo Erika Mustermann," in html and "am 23. November 2026 erhalten." in html
    broken = client.htmx("POST", f"{EDIT}/preview", target="notification-preview",
                         data={"subject": SUBJECT, "body": "ok\n{% if requester_name %}"})
    assert broken.status_code == 422
    assert "Line 2: Unexpected end of template." in _text(broken) and 'id="preview-errors"' in _text(broken)
    assert _stored(db, tenant) == []  # a preview saves nothing


def test_the_preview_without_javascript_is_the_whole_page(client, db, tenant, admin):
    response = client.post(f"{EDIT}/preview", data={"subject": SUBJECT, "body": BODY})
    assert response.status_code == 200
    page = _text(response)
    assert "<html" in page and 'value="Eingang: {{ ticket_subject }}"' in page and "Eingang: Drucker" in page


def test_the_preview_needs_the_csrf_token(client, db, tenant, admin):
    response = client.post(f"{EDIT}/preview", data={"subject": SUBJECT, "body": BODY}, csrf=False,
                           headers={"HX-Request": "true", "HX-Target": "notification-preview"})
    assert response.status_code == 400


def test_a_japanese_preview_writes_japanese_dates(client, db, create_tenant, login):
    tenant = create_tenant("acme-jp", locale="ja", timezone="Asia/Tokyo")
    login(tenant.owner)
    response = client.htmx("POST", "/t/acme-jp/notification-templates/status_changed/ja/preview",
                           target="notification-preview", data={"subject": "{{ when|date }}", "body": "x"})
    assert response.status_code == 200 and "2026年11月23日" in _text(response)


@pytest.mark.parametrize("path", ["no_such_event/de", "acknowledgement/xx", "acknowledgement/de/../en"])
def test_unknown_events_and_languages_are_404(client, db, tenant, admin, path):
    assert client.get(f"{URL}{path}").status_code == 404
    assert client.post(f"{URL}{path}/preview", data={"subject": "a", "body": "b"}).status_code == 404


ROUTES = [("GET", URL), ("GET", EDIT), ("POST", EDIT), ("POST", f"{EDIT}/preview"), ("POST", f"{EDIT}/reset")]


def test_agents_are_refused(client, db, tenant, add_member, login):
    login(add_member(tenant, Role.AGENT))
    for method, path in ROUTES:
        assert client.open(path, method=method, data={"subject": "a", "body": "b"}).status_code == 403, path


def test_another_tenants_templates_are_out_of_reach(client, db, tenant, create_tenant, login):
    victim = create_tenant("victim", locale="de")
    secret = NotificationTemplate(tenant_id=victim.id, event="acknowledgement", locale="de", subject="Victim secret",
                                  body="Victim body")
    db.session.add(secret)
    db.session.commit()
    login(tenant.owner)
    for method, path in ROUTES:
        victim_path = path.replace("/t/acme/", "/t/victim/")
        assert client.open(victim_path, method=method, data={"subject": "pwned", "body": "x"}).status_code == 404
    # Acme's own editor for the same event and language knows nothing of the victim's text, and its reset leaves it.
    assert "Victim" not in _text(client.get(EDIT)) and "Victim" not in _text(client.get(URL))
    assert client.post(f"{EDIT}/reset").status_code == 302
    db.session.expire_all()
    assert db.session.get(NotificationTemplate, secret.id).subject == "Victim secret"
    assert render_notification(tenant, "acknowledgement", "de", {}).subject.startswith("Ihre Anfrage")

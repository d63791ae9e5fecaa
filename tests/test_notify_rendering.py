"""Notification rendering: five languages, the requester's language and time zone, the fallback order, and a sandbox
that a tenant's template cannot climb out of."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from jinja2.exceptions import SecurityError

from app.notify import sandbox
from app.notify.defaults import BUILTIN
from app.notify.events import EVENTS, opted_out
from app.notify.models import NotificationTemplate
from app.notify.rendering import Rendered, choose_locale, render_notification, validate_template
from app.tickets.models import Contact

LOCALES = ("en", "de", "fr", "es", "ja")
FIELDS = {"ticket_reference": "ACME-7", "ticket_subject": "Printer jam", "ticket_status": "Open",
          "requester_name": "Jane", "requester_email": "jane@client.test", "mailbox_name": "Support",
          "ticket_url": "https://postroom.test/t/acme/inbox/7"}
GERMAN_MAIL = ("Hallo zusammen,\n\nseit gestern funktioniert der Drucker im dritten Stock nicht mehr. Können Sie bitte "
               "jemanden vorbeischicken?\n\nViele Grüße\nErika")
WHEN = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def _own(db, tenant, event: str, locale: str, subject: str, body: str) -> NotificationTemplate:
    """A tenant template stored as it is, without the editor's checks (as a bad import or an old row might be)."""
    template = NotificationTemplate(tenant_id=tenant.id, event=event, locale=locale, subject=subject, body=body)
    db.session.add(template)
    db.session.commit()
    return template


def _contact(db, tenant, **fields) -> Contact:
    contact = Contact(tenant_id=tenant.id, email="jane@client.test", name="Jane", **fields)
    db.session.add(contact)
    db.session.commit()
    return contact


@pytest.mark.parametrize("locale", LOCALES)
def test_every_event_has_a_valid_built_in_template_in_every_locale(app, locale):
    assert set(BUILTIN[locale]) == set(EVENTS)
    with app.test_request_context():
        for event, (subject, body) in BUILTIN[locale].items():
            assert validate_template(subject, body) == {}, (locale, event)


@pytest.mark.parametrize(("locale", "subject", "text"), [
    ("en", "We received your request: Printer jam", "thank you for your message"),
    ("de", "Ihre Anfrage ist bei uns eingegangen: Printer jam", "vielen Dank für Ihre Nachricht"),
    ("fr", "Nous avons bien reçu votre demande : Printer jam", "Merci pour votre message"),
    ("es", "Hemos recibido su solicitud: Printer jam", "Gracias por su mensaje"),
    ("ja", "お問い合わせを受け付けました：Printer jam", "お問い合わせいただき、ありがとうございます。"),  # noqa: RUF001
])
def test_acknowledgement_in_each_locale(db, create_tenant, locale, subject, text):
    tenant = create_tenant()
    rendered = render_notification(tenant, "acknowledgement", locale, FIELDS)
    assert isinstance(rendered, Rendered) and rendered.locale == locale
    assert rendered.subject == f"{subject} [#ACME-7]"
    assert text in rendered.text and "ACME-7" in rendered.text
    assert "https://postroom.test/t/acme/inbox/7" in rendered.text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("event", sorted(EVENTS))
def test_every_event_renders_with_missing_fields_empty(db, create_tenant, locale, event):
    rendered = render_notification(create_tenant(), event, locale, {"ticket_reference": "ACME-7"})
    assert rendered.subject and rendered.text.endswith("\n") and "None" not in rendered.text


def test_a_german_requester_gets_german(db, create_tenant):
    tenant = create_tenant(locale="en")
    contact = _contact(db, tenant)  # no language set: their mail decides
    locale = choose_locale(tenant, contact, GERMAN_MAIL)
    assert locale == "de"
    rendered = render_notification(tenant, "acknowledgement", locale, FIELDS)
    assert rendered.locale == "de" and rendered.text.startswith("Guten Tag Jane,")


@pytest.mark.parametrize(("text", "expected"), [
    ("Danke!", "fr"),  # too short to tell
    (None, "fr"),
    ("> Hallo, seit gestern funktioniert der Drucker nicht mehr, können Sie helfen?\nok", "fr"),  # quoted only
    ("Ciao, da ieri la stampante al terzo piano non funziona più. Potete mandare qualcuno?", "fr"),  # Italian
    ("Hello, since yesterday the printer on the third floor does not work any more. Can you help?", "en"),
    ("昨日から3階のプリンターが動きません。確認していただけますか。", "ja"),
    ("Hola, desde ayer la impresora de la tercera planta no funciona. ¿Pueden enviar a alguien?", "es"),
])
def test_language_detection_only_when_clear(db, create_tenant, text, expected):
    tenant = create_tenant(locale="fr")
    assert choose_locale(tenant, _contact(db, tenant), text) == expected


def test_the_contacts_own_language_wins(db, create_tenant):
    tenant = create_tenant(locale="en")
    assert choose_locale(tenant, _contact(db, tenant, locale="es"), GERMAN_MAIL) == "es"
    assert choose_locale(tenant, None, "short") == "en"


def test_a_japanese_tenant_writes_dates_the_japanese_way(db, create_tenant):
    tenant = create_tenant(locale="ja", timezone="Asia/Tokyo")
    _own(db, tenant, "status_changed", "ja", "{{ ticket_status }} [{{ when|date }}]",
         "{{ when|date }}\n{{ when|datetime('short') }}\n{{ created_at }}")
    late = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # already the 24th in Tokyo
    rendered = render_notification(tenant, "status_changed", "ja", {**FIELDS, "ticket_status": "解決済み",
                                                                   "created_at": WHEN}, when=late)
    assert rendered.subject == "解決済み [2026年11月24日]"
    assert rendered.text == "2026年11月24日\n2026/11/24 1:00\n2026/11/23 18:30:00\n"


def test_dates_follow_the_requesters_time_zone_and_language(db, create_tenant):
    tenant = create_tenant(locale="en", timezone="Asia/Tokyo")
    _own(db, tenant, "status_changed", "de", "{{ when|date }}", "{{ when|datetime }} / {{ when|date('full') }}")
    rendered = render_notification(tenant, "status_changed", "de", FIELDS, timezone="America/New_York", when=WHEN)
    assert rendered.subject == "23. November 2026"
    assert rendered.text == "23.11.2026, 04:30:00 / Montag, 23. November 2026\n"
    broken_zone = render_notification(tenant, "status_changed", "de", FIELDS, timezone="Mars/Olympus", when=WHEN)
    assert broken_zone.subject == "23. November 2026"  # UTC


def test_fallback_order(db, create_tenant):
    tenant = create_tenant(locale="de")
    _own(db, tenant, "acknowledgement", "fr", "FR own {{ ticket_reference }}", "fr body")
    german = _own(db, tenant, "acknowledgement", "de", "DE own {{ ticket_reference }}", "de body")
    assert render_notification(tenant, "acknowledgement", "fr", FIELDS) == Rendered("FR own ACME-7", "fr body\n", "fr")
    # No Spanish template of the tenant's: its template in its default language comes before the built-in Spanish.
    assert render_notification(tenant, "acknowledgement", "es", FIELDS) == Rendered("DE own ACME-7", "de body\n", "de")
    db.session.delete(german)
    db.session.commit()
    spanish = render_notification(tenant, "acknowledgement", "es", FIELDS)
    assert spanish.locale == "es" and spanish.subject.startswith("Hemos recibido su solicitud")
    # An unknown language: the tenant's default; other tenants' templates never count.
    other = create_tenant(locale="xx")
    _own(db, other, "acknowledgement", "en", "OTHER", "other")
    assert render_notification(tenant, "acknowledgement", "xx", FIELDS).locale == "de"
    assert render_notification(other, "acknowledgement", "xx", FIELDS).subject == "OTHER"
    assert render_notification(other, "escalation", "xx", FIELDS).subject.startswith("Escalated: ACME-7")
    with pytest.raises(KeyError):
        render_notification(tenant, "no_such_event", "en", FIELDS)


def test_a_tenant_template_that_fails_falls_back_to_the_default_and_logs(db, create_tenant, caplog):
    tenant = create_tenant(locale="en")
    _own(db, tenant, "acknowledgement", "en", "Hi {{ ticket_subject|truncate('x') }}", "body")
    with caplog.at_level(logging.WARNING):
        rendered = render_notification(tenant, "acknowledgement", "en", FIELDS)
    assert rendered.subject == "We received your request: Printer jam [#ACME-7]"
    assert any("falling back" in record.getMessage() for record in caplog.records)


def test_the_subject_is_one_line(db, create_tenant):
    rendered = render_notification(create_tenant(), "acknowledgement", "en",
                                   {**FIELDS, "ticket_subject": "Jam\r\nBcc: everyone@example.test"})
    assert "\n" not in rendered.subject and "\r" not in rendered.subject


def test_a_syntax_error_is_refused_with_its_line(app):
    with app.test_request_context():
        errors = validate_template("Re: {{ ticket_subject }}", "Hello,\n\nabout {{ ticket_reference }\nBye")
        assert errors == {"body": "Line 3: unexpected '}'"}
        unclosed = validate_template("{% if ticket_url %}", "x")
        assert list(unclosed) == ["subject"] and unclosed["subject"].startswith("Line 1: Unexpected end of template.")


def test_unknown_merge_fields_and_filters_are_refused_at_save(app):
    with app.test_request_context():
        errors = validate_template("{{ ticket_subjet }}", "Hi\n{{ ticket_reference|shout }}")
        assert errors == {
            "subject": "Line 1: Unknown merge field “ticket_subjet”: did you mean “ticket_subject”?",
            "body": "Line 2: Unknown filter “shout”. The filters are capitalize, d, date, datetime, default, lower, "
                    "title, trim, truncate, upper."}
        assert validate_template("", "x" * 20_001) == {"subject": "This field is required.",
                                                       "body": "Use at most 20000 characters."}
        assert validate_template("a\nb", "x") == {"subject": "The subject must be a single line."}


def test_conditions_filters_and_fixed_lists_are_allowed(db, create_tenant):
    body = ('{% if ticket_status in ["Open", "Pending"] and requester_name %}\nHi {{ requester_name|upper }}\n'
            '{% elif not reason %}\n{{ reason|default("-") }}\n{% else %}\n{{ ticket_subject|truncate(9) }}\n'
            '{% endif %}\n{{ -1 if assignee_name else "nobody" }} {{ ticket_subject|lower|title }}')
    tenant = create_tenant()
    assert validate_template("{{ ticket_reference|trim|d('?') }}", body) == {}
    _own(db, tenant, "status_changed", "en", "{{ ticket_reference|trim|d('?') }}", body)
    assert render_notification(tenant, "status_changed", "en", FIELDS) == Rendered(
        "ACME-7", "Hi JANE\nnobody Printer Jam\n", "en")


ESCAPES = [
    "{{ ticket_subject.__class__.__mro__ }}",
    "{{ ticket_subject.__class__.__init__.__globals__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ticket_subject['__class__'] }}",
    "{{ ticket_subject|attr('__class__') }}",
    "{{ ticket_subject.format }}",
    "{{ config }}",
    "{{ config.SECRET_KEY }}",
    "{{ request.environ }}",
    "{{ g }}",
    "{{ session }}",
    "{{ self }}",
    "{{ self._TemplateReference__context }}",
    "{{ lipsum.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ namespace() }}",
    "{% for i in range(10**9) %}x{% endfor %}",
    "{% for a in [1, 2] %}{% for b in [1, 2] %}x{% endfor %}{% endfor %}",
    "{{ 'x' * 10**9 }}",
    "{{ 10**10**10 }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ ticket_subject|center(1000000000) }}",
    "{{ ticket_subject|indent(1000000000) }}",
    "{{ ticket_subject|replace('', ticket_subject) }}",
    "{% set s = ticket_subject ~ ticket_subject %}{{ s }}",
    "{{ reply_text ~ reply_text ~ reply_text }}",
    "{{ [reply_text, reply_text, reply_text] }}",
    "{% with s = ticket_subject %}{{ s }}{% endwith %}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{% include 'layout.html' %}",
    "{% extends 'layout.html' %}",
    "{% import 'layout.html' as layout %}",
    "{% filter upper %}x{% endfilter %}",
    "{% block b %}x{% endblock %}",
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_sandbox_escapes_are_refused_at_save(app, payload):
    with app.test_request_context():
        errors = validate_template("Hi", f"Hello\n{payload}")
    assert errors["body"].startswith("Line 2: "), errors


@pytest.mark.parametrize("payload", ESCAPES)
def test_a_stored_escape_never_runs(db, create_tenant, payload):
    """Even a row that skipped the editor is checked before it runs: the built-in default goes out instead."""
    tenant = create_tenant()
    _own(db, tenant, "acknowledgement", "en", "Hi", payload)
    rendered = render_notification(tenant, "acknowledgement", "en", FIELDS)
    assert rendered.text.startswith("Hello Jane,\n\nthank you for your message.")


def test_the_environment_itself_refuses_attributes_and_has_no_globals():
    """The second layer, without the syntax check in front of it."""
    with pytest.raises(SecurityError):
        sandbox.ENVIRONMENT.from_string("{{ x.__class__ }}").render(x="text")
    with pytest.raises(SecurityError):
        sandbox.ENVIRONMENT.from_string("{{ x.upper() }}").render(x="text")
    assert sandbox.ENVIRONMENT.globals == {}
    assert "attr" not in sandbox.ENVIRONMENT.filters and "format" not in sandbox.ENVIRONMENT.filters


def test_values_are_plain_and_output_is_bounded(db, create_tenant):
    tenant = create_tenant()
    with pytest.raises(TypeError):
        render_notification(tenant, "acknowledgement", "en", {**FIELDS, "ticket_subject": object()})
    _own(db, tenant, "agent_reply", "en", "Re", "{{ reply_text }}" * 30)
    rendered = render_notification(tenant, "agent_reply", "en", {**FIELDS, "reply_text": "x" * 50_000})
    assert rendered.subject.startswith("Re: Printer jam")  # 1.5 million characters: the default went out instead
    assert rendered.text.count("x" * 50_000) == 1


def test_only_non_essential_notifications_can_be_declined(db, create_tenant):
    tenant = create_tenant()
    contact = _contact(db, tenant, notifications_opt_out=True)
    assert opted_out("status_changed", contact)
    assert not opted_out("acknowledgement", contact) and not opted_out("agent_reply", contact)
    assert not opted_out("status_changed", _contact_without_opt_out(db, tenant))
    assert [name for name, event in EVENTS.items() if not event.essential] == ["status_changed"]


def _contact_without_opt_out(db, tenant) -> Contact:
    contact = Contact(tenant_id=tenant.id, email="other@client.test", name="Other")
    db.session.add(contact)
    db.session.commit()
    return contact

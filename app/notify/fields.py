"""The merge fields notification templates may use, and sample values for the editor's preview.

Every value a template sees is a plain string or number: the outbox passes a dict of them, never a model object.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask_babel import force_locale, ngettext
from flask_babel import lazy_gettext as _l

from app.inbox.labels import STATUSES, label
from tenants.models import Tenant

MERGE_FIELDS = {
    "ticket_reference": _l("The ticket's reference, e.g. ACME-12"),
    "ticket_subject": _l("The ticket's subject"),
    "ticket_status": _l("The ticket's status, in the recipient's language"),
    "ticket_url": _l("The link to the ticket"),
    "assignee_name": _l("The name of the agent the ticket is assigned to"),
    "agent_name": _l("The name of the agent who wrote the reply"),
    "requester_name": _l("The requester's name (may be empty)"),
    "requester_email": _l("The requester's address"),
    "mailbox_name": _l("The mailbox's name"),
    "mailbox_address": _l("The mailbox's address"),
    "mailbox_url": _l("The link to the mailbox's page"),
    "webhook_url": _l("The address of the webhook endpoint"),
    "webhooks_url": _l("The link to the tenant's webhook settings"),
    "reply_text": _l("The text of the agent's reply"),
    "reason": _l("Why: the error, or the rule that applied"),
    "attachments": _l("The names of the attachments withheld"),
    "recipients": _l("The addresses the reply could not be delivered to"),
    "created_at": _l("When the ticket was opened, in the recipient's language and time zone"),
    "when": _l("When this happened: {{ when|datetime }} writes the date and time, {{ when|date }} the date alone, "
               "in the recipient's language and time zone"),
    "tenant_name": _l("Your organisation's name"),
    "inviter_name": _l("The name of the person who sent the invitation"),
    "invitation_url": _l("The link that accepts the invitation"),
    "alert_title": _l("What the alert is about, e.g. \"Outbox backlog\""),
    "alert_detail": _l("What the alert rule found, or that it has cleared"),
    "alerts_url": _l("The link to the tenant's alerts"),
}

SAMPLE_MOMENT = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
# Sample text in each language, so that a preview reads like the mail it stands for.
_SAMPLE_TEXT = {
    "en": ("Printer on the 3rd floor is jammed", "Jane Doe", "Alex Agent",
           "Hello Jane,\n\nthe printer has been repaired. Please let us know if it jams again."),
    "de": ("Drucker im 3. Stock klemmt", "Erika Mustermann", "Alex Agent",
           "Hallo Frau Mustermann,\n\nder Drucker wurde repariert. Bitte melden Sie sich, falls er wieder klemmt."),
    "fr": ("L'imprimante du 3e étage est bloquée", "Marie Dupont", "Alex Agent",
           "Bonjour Madame Dupont,\n\nl'imprimante a été réparée. N'hésitez pas à nous écrire si elle se bloque "
           "de nouveau."),
    "es": ("La impresora de la 3.ª planta está atascada", "María García", "Alex Agent",
           "Hola, María:\n\nla impresora ya está reparada. Avísenos si se vuelve a atascar."),
    "ja": ("3階のプリンターが紙詰まりしています", "山田 花子", "佐藤 健",
           "山田様\n\nプリンターの修理が完了しました。再び紙詰まりが発生した場合はお知らせください。"),
}


def sample_fields(tenant: Tenant | None = None, locale: str = "en") -> dict[str, object]:
    """Values for every merge field, as the outbox would pass them, for the preview of a template in ``locale``."""
    subject, requester, agent, reply = _SAMPLE_TEXT.get(locale, _SAMPLE_TEXT["en"])
    slug, name = (tenant.slug, tenant.name) if tenant is not None else ("acme", "Acme")
    reference = f"{(tenant.ticket_prefix if tenant is not None else '') or slug[:4].upper()}-42"
    with force_locale(locale):
        status = label(STATUSES, "resolved")
        alert_title = str(_l("Outbox backlog"))
        alert_detail = ngettext(
            "%(num)s mail is waiting in the outbox (the alert is set at more than %(threshold)s).",
            "%(num)s mails are waiting in the outbox (the alert is set at more than %(threshold)s).", 63, threshold=50)
    return {"ticket_reference": reference, "ticket_subject": subject, "ticket_status": status,
            "ticket_url": f"https://postroom.example/t/{slug}/inbox/42", "assignee_name": agent,
            "agent_name": agent, "requester_name": requester, "requester_email": "requester@example.com",
            "mailbox_name": "Support", "mailbox_address": "support@example.com",
            "mailbox_url": f"https://postroom.example/t/{slug}/mailboxes/1", "reply_text": reply,
            "webhook_url": "https://crm.example.com/hooks/postroom",
            "webhooks_url": f"https://postroom.example/t/{slug}/webhooks/",
            "reason": "550 5.1.1 User unknown", "attachments": "invoice.exe (12 MB)",
            "recipients": "requester@example.com", "created_at": SAMPLE_MOMENT, "tenant_name": name,
            "inviter_name": agent, "invitation_url": "https://postroom.example/invitations/…",
            "alert_title": alert_title, "alert_detail": alert_detail,
            "alerts_url": f"https://postroom.example/t/{slug}/alerts/"}

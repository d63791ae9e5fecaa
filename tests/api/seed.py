"""One of everything the API's paths name, in one tenant, made through the API where the API can make it: shared
by the fuzzing run and the cross-tenant check of every route."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.fixtures.inbox import make_mail


@dataclass
class Seeded:
    ids: dict
    overrides: dict[str, dict] = field(default_factory=dict)  # path prefix → ids that differ under it

    def for_path(self, path: str) -> dict:
        merged = dict(self.ids)
        for prefix, values in self.overrides.items():
            if path.startswith(prefix):
                merged.update(values)
        return merged


def seed_everything(client, headers: dict, inbox, receiver, run_jobs) -> Seeded:
    from tests.web.test_quarantine_page import deep_mail

    def post(path: str, body: dict | None = None) -> dict:
        response = client.post(f"/api/v1/{path}", json=body, headers=headers)
        assert response.status_code in (200, 201, 202), response.json
        return response.json

    def first(path: str) -> dict:
        return client.get(f"/api/v1/{path}", headers=headers).json["items"][0]

    endpoint = post("webhooks", {"url": receiver.url, "events": ["ticket.created", "message.received"]})
    ticket_receipt = inbox.deliver(make_mail())
    held = inbox.deliver(deep_mail())
    # The new ticket's events (so a webhook delivery) and its acknowledgement (so an outbox entry).
    run_jobs(kinds=("ingest", "default", "webhooks", "deliver"))
    message = inbox.message_of(ticket_receipt)
    ids = {"mailbox_id": inbox.mailbox.id, "queue_id": inbox.queue.id, "receipt_id": held.id,
           "ticket_id": message.ticket_id, "message_id": message.id, "endpoint_id": endpoint["id"],
           "rule_id": post("rules", {"name": "Invoices", "pattern": "invoice"})["id"],
           "token_id": post("tokens", {"name": "ci"})["id"],
           "invitation_id": post("invitations", {"email": "new@acme.test", "role": "agent"})["id"],
           "job_id": post(f"mailboxes/{inbox.mailbox.id}/sync")["job_id"],
           "template_id": post("reply-templates", {"name": "Thanks", "body": "Thank you!"})["id"],
           "contact_id": first("contacts")["id"], "membership_id": first("members")["id"],
           "delivery_id": first(f"webhooks/{endpoint['id']}/deliveries")["id"], "mail_id": first("outbox")["id"],
           "event": "acknowledgement", "locale": "de", "provider": "google"}
    dlp_rule = post("dlp-rules", {"name": "Cards", "kind": "card_number", "action": "block"})
    ids.update(kind="quarantine_growing", alert_id=_alert(client, headers, inbox))
    return Seeded(ids, {"/api/v1/dlp-rules": {"rule_id": dlp_rule["id"]}})


def _alert(client, headers: dict, inbox) -> int:
    """An open alert: the held mail is one quarantined in the last hour, and the rule alerts at one."""
    from app.alerts.services import evaluate
    from app.extensions import db

    client.patch("/api/v1/alert-rules/quarantine_growing", json={"threshold": 1}, headers=headers)
    evaluate(inbox.tenant)
    db.session.commit()
    return client.get("/api/v1/alerts", headers=headers).json["items"][0]["id"]

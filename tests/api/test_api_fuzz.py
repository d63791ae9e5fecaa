"""schemathesis against /api/v1/openapi.json: for every operation, generated requests never get a 5xx and every
answer (status, content type, headers, body) is one the document promises. Bounded: a few examples per operation,
derandomized so CI is repeatable; POSTROOM_FUZZ_EXAMPLES raises the bound for a deeper local run."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fixtures.inbox import make_mail

EXAMPLES = int(os.environ.get("POSTROOM_FUZZ_EXAMPLES", "10"))
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance,
          response_headers_conformance]


def _run_operation(operation, headers: dict, path_ids: dict | None = None) -> None:
    def fill(case):
        # Ids of objects that exist, so the fuzzed bodies and queries reach past the 404 into the services.
        for name in case.path_parameters or {}:
            if name in (path_ids or {}):
                case.path_parameters[name] = path_ids[name]
        return case

    @given(case=operation.as_strategy().map(fill))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def _fuzz(app, headers: dict, path_ids: dict | None = None) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    failures = []
    # Deletions last, so the other operations still find the objects.
    for operation in sorted(operations, key=lambda operation: operation.method.upper() == "DELETE"):
        try:
            _run_operation(operation, headers, path_ids)
        except BaseException as exc:  # hypothesis raises exception groups; every operation is reported
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.timeout(600)
def test_every_operation_answers_as_documented(app, db, create_tenant, api_token):
    """Made-up ids and bodies, on a tenant with nothing yet."""
    _fuzz(app, api_token(create_tenant()))


def _seed(client, headers: dict, inbox, receiver, run_jobs) -> dict:
    """One of everything the API's paths name, made through the API where it can make them."""
    from tests.web.test_quarantine_page import deep_mail

    def post(path: str, body: dict | None = None) -> dict:
        response = client.post(f"/api/v1/{path}", json=body, headers=headers)
        assert response.status_code in (200, 201, 202), response.json
        return response.json

    endpoint = post("webhooks", {"url": receiver.url, "events": ["ticket.created", "message.received"]})
    ticket_receipt = inbox.deliver(make_mail())
    held = inbox.deliver(deep_mail())
    run_jobs(kinds=("ingest", "default", "webhooks"))  # the new ticket's events, and so a webhook delivery
    ids = {"mailbox_id": inbox.mailbox.id, "queue_id": inbox.queue.id, "receipt_id": held.id,
           "ticket_id": inbox.message_of(ticket_receipt).ticket_id, "endpoint_id": endpoint["id"],
           "rule_id": post("rules", {"name": "Invoices", "pattern": "invoice"})["id"],
           "token_id": post("tokens", {"name": "ci"})["id"],
           "invitation_id": post("invitations", {"email": "new@acme.test", "role": "agent"})["id"],
           "job_id": post(f"mailboxes/{inbox.mailbox.id}/sync")["job_id"],
           "event": "acknowledgement", "locale": "de"}
    contacts = client.get("/api/v1/contacts", headers=headers).json["items"]
    ids["contact_id"] = contacts[0]["id"]
    deliveries = client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=headers).json["items"]
    ids["delivery_id"] = deliveries[0]["id"]
    return ids


@pytest.mark.timeout(600)
def test_operations_on_existing_objects_answer_as_documented(app, client, db, inbox, api_token, receiver, run_jobs):
    """The same, with every path naming an object that exists: a mailbox, a ticket with mail, held mail, a webhook
    endpoint with a delivery, a rule, a token, an invitation, a contact, a sync job, a notification template."""
    headers = api_token(inbox.tenant)
    _fuzz(app, headers, _seed(client, headers, inbox, receiver, run_jobs))

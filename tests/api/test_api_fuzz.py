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

from tests.api.seed import Seeded, seed_everything

EXAMPLES = int(os.environ.get("POSTROOM_FUZZ_EXAMPLES", "10"))
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance,
          response_headers_conformance]


def _run_operation(operation, headers: dict, seeded: Seeded | None = None) -> None:
    path_ids = seeded.for_path(operation.path) if seeded else {}

    def fill(case):
        # Ids of objects that exist, so the fuzzed bodies and queries reach past the 404 into the services.
        for name in case.path_parameters or {}:
            if name in path_ids:
                case.path_parameters[name] = path_ids[name]
        return case

    @given(case=operation.as_strategy().map(fill))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def _fuzz(app, headers: dict, seeded: Seeded | None = None) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    failures = []
    # Deletions last, so the other operations still find the objects.
    for operation in sorted(operations, key=lambda operation: operation.method.upper() == "DELETE"):
        try:
            _run_operation(operation, headers, seeded)
        except BaseException as exc:  # hypothesis raises exception groups; every operation is reported
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.timeout(600)
def test_every_operation_answers_as_documented(app, db, create_tenant, api_token):
    """Made-up ids and bodies, on a tenant with nothing yet."""
    _fuzz(app, api_token(create_tenant()))


@pytest.mark.timeout(600)
def test_operations_on_existing_objects_answer_as_documented(app, client, db, inbox, api_token, receiver, run_jobs):
    """The same, with every path naming an object that exists: a mailbox, a ticket with mail, held mail, a webhook
    endpoint with a delivery, a rule, a token, an invitation, a contact, a sync job, a notification template."""
    headers = api_token(inbox.tenant)
    _fuzz(app, headers, seed_everything(client, headers, inbox, receiver, run_jobs))

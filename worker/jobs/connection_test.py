"""The live connection test: probe a mailbox's servers step by step, writing each step as it finishes."""

from __future__ import annotations

from rq import get_current_job

from app.connections.models import ConnectionTest
from app.connections.services import run_test
from app.extensions import db
from worker.jobs import job


@job
def run_connection_test(test_id: int) -> str | None:
    test = db.session.get(ConnectionTest, test_id)
    if test is None:  # the mailbox was deleted meanwhile
        return None
    current = get_current_job()
    return run_test(test, job_id=current.id if current else None).status

"""Background jobs the API started: connection tests and syncs."""

from __future__ import annotations

from flask import abort, g
from flask_smorest import Blueprint

from app.api.auth import authenticate_token
from app.api.mailbox_schemas import JobSchema
from app.connections import services as connections
from app.inbound.services import sync_job_status

blp = Blueprint("api_jobs", __name__, url_prefix="/jobs", description="Background jobs (connection tests)")
blp.before_request(authenticate_token)


@blp.route("/<job_id>", methods=["GET"])
@blp.response(200, JobSchema)
def get_job(job_id: str):
    """A connection test's status and its steps so far; failed steps explain themselves in ``message``."""
    test = connections.test_by_job_id(g.tenant, job_id)
    if test is not None:
        return test
    sync = sync_job_status(g.tenant, job_id)
    if sync is None:
        abort(404)
    return sync

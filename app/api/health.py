"""Whether the tenant's mail flows: every mailbox's state, open work per queue, quarantine, outbox and webhooks."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from app.api.auth import authenticate_token
from app.api.health_schemas import TenantHealthSchema
from app.health.services import tenant_health

blp = Blueprint("api_health", __name__, url_prefix="/health", description="Mailbox health and queue depth")
blp.before_request(authenticate_token)


@blp.route("", methods=["GET"])
@blp.response(200, TenantHealthSchema)
def get_health():
    """One summary; ``/mailboxes/{id}/health`` and ``/mailboxes/{id}/log`` give one mailbox's detail."""
    return tenant_health(g.tenant)

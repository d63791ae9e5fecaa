"""The tenant health page: whether mail flows, mailbox by mailbox, and where it waits. It refreshes itself."""

from __future__ import annotations

from flask import g, render_template

from app.extensions import htmx
from app.health import display, services
from app.health.mailbox_stats import mailbox_stats
from tenants.models import Role, utcnow
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("health", __name__, "/health", role=Role.ADMIN)
PANEL = "health-panel"
REFRESH_SECONDS = 15


@bp.route("/")
def index():
    tenant = g.tenant
    context = {"rows": display.rows(mailbox_stats(tenant)), "queues": services.queue_rows(tenant),
               "quarantined": services.quarantine_count(tenant), "outbox": services.outbox_counts(tenant),
               "webhooks": services.webhook_counts(tenant), "generated_at": utcnow(),
               "refresh_seconds": REFRESH_SECONDS}
    if htmx and not htmx.boosted and htmx.target == PANEL:
        return render_template("health/_panel.html", **context)
    return render_template("health/index.html", **context)

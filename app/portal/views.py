from __future__ import annotations

from flask import g, render_template

from app.members.services import members, pending_invitations
from app.quarantine.services import held_count
from tenants.models import Role
from tenants.regions import get_region
from tenants.resolver import current_role, tenant_blueprint

bp = tenant_blueprint("portal", __name__)


@bp.route("/")
def dashboard():
    tenant = g.tenant
    admin = current_role().at_least(Role.ADMIN)
    return render_template("portal/dashboard.html", tenant=tenant, region=get_region(tenant.region),
                           member_count=len(members(tenant)), invitation_count=len(pending_invitations(tenant)),
                           quarantined=held_count(tenant) if admin else None)

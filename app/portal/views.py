from __future__ import annotations

from flask import g, render_template

from app.members.services import members, pending_invitations
from tenants.regions import get_region
from tenants.resolver import tenant_blueprint

bp = tenant_blueprint("portal", __name__)


@bp.route("/")
def dashboard():
    tenant = g.tenant
    return render_template("portal/dashboard.html", tenant=tenant, region=get_region(tenant.region),
                           member_count=len(members(tenant)), invitation_count=len(pending_invitations(tenant)))

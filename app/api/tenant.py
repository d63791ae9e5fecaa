from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from app.api.auth import authenticate_token
from app.api.schemas import TenantSchema, TenantUpdateSchema
from app.errors import FieldErrors
from app.extensions import db
from app.settings.inbound import apply_inbound_policy
from app.settings.services import update_tenant

blp = Blueprint("api_tenant", __name__, url_prefix="/tenant", description="The token's tenant")
blp.before_request(authenticate_token)


@blp.route("", methods=["GET"])
@blp.response(200, TenantSchema)
def get_tenant():
    return g.tenant


@blp.route("", methods=["PATCH"])
@blp.arguments(TenantUpdateSchema)
@blp.response(200, TenantSchema)
def patch_tenant(changes: dict):
    """Change any of the fields; ``inbound`` holds the inbound policy. All or nothing: one bad field changes none."""
    tenant = g.tenant
    try:
        apply_inbound_policy(tenant, **changes.pop("inbound", {}))  # not committed: update_tenant commits both
    except FieldErrors as error:
        raise FieldErrors({f"inbound/{field}": message for field, message in error.errors.items()}) from None
    try:
        update_tenant(tenant, name=changes.pop("name", tenant.name),
                      default_locale=changes.pop("default_locale", tenant.default_locale),
                      timezone=changes.pop("timezone", tenant.timezone), **changes)
    except FieldErrors:
        db.session.rollback()  # undo the inbound policy already set on the tenant (and its audit event)
        raise
    return tenant

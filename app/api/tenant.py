from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from app.api.auth import authenticate_token
from app.api.schemas import TenantSchema, TenantUpdateSchema
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
    tenant = g.tenant
    update_tenant(tenant, name=changes.pop("name", tenant.name),
                  default_locale=changes.pop("default_locale", tenant.default_locale),
                  timezone=changes.pop("timezone", tenant.timezone), **changes)
    return tenant

"""Tenant resolution for the portal: ``/t/<slug>/...``.

A tenant blueprint loads the tenant and the signed-in user's membership before any view runs. A tenant that does
not exist and a tenant the user does not belong to look the same: 404.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, abort, g
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db, login_manager
from tenants.models import Membership, Role, Tenant


def tenant_by_slug(slug: str) -> Tenant | None:
    return db.session.scalar(select(Tenant).where(Tenant.slug == slug))


def membership_of(user_id: int, tenant: Tenant) -> Membership | None:
    return db.session.scalar(
        select(Membership).where(Membership.tenant_id == tenant.id, Membership.user_id == user_id)
    )


def _pull_tenant(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    slug = (values or {}).pop("tenant_slug", None)
    if slug is None:
        return
    if not current_user.is_authenticated:
        # Anonymous visitors learn nothing about which slugs exist: they are sent to log in either way.
        g.tenant_login_required = True
        return
    tenant = tenant_by_slug(slug)
    membership = membership_of(current_user.id, tenant) if tenant else None
    if membership is None:
        abort(404)
    g.tenant, g.membership = tenant, membership


def _require_login() -> Any:
    if g.pop("tenant_login_required", False):
        return login_manager.unauthorized()
    return None


def _push_slug(_endpoint: str, values: dict[str, Any]) -> None:
    if "tenant_slug" not in values and g.get("tenant") is not None:
        values["tenant_slug"] = g.tenant.slug


def tenant_blueprint(name: str, import_name: str, url_prefix: str = "", role: Role = Role.AGENT) -> Blueprint:
    """A blueprint whose routes live under ``/t/<tenant_slug>`` and run with ``g.tenant`` and ``g.membership``.

    ``role`` is the weakest role allowed on every route of the blueprint (views may demand more).
    """
    bp = Blueprint(name, import_name, url_prefix=f"/t/<tenant_slug>{url_prefix}")
    bp.url_value_preprocessor(_pull_tenant)
    bp.before_request(_require_login)
    if role != Role.AGENT:

        def _check_role() -> None:
            if g.get("membership") is not None and not g.membership.role.at_least(role):
                abort(403)

        bp.before_request(_check_role)
    bp.required_role = role  # type: ignore[attr-defined]  # read by the route-matrix tests
    bp.url_defaults(_push_slug)
    return bp


def require_role(role: Role) -> Callable:
    """Refuse (403) members whose role is weaker than ``role``; membership itself was checked by the resolver."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not g.membership.role.at_least(role):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined]  # read by the route-matrix tests
        return wrapped

    return decorator


def current_role() -> Role | None:
    membership = g.get("membership")
    return membership.role if membership else None

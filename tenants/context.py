"""The current tenant, for requests and jobs alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

from flask import g, has_app_context
from werkzeug.local import LocalProxy

if TYPE_CHECKING:
    from tenants.models import Tenant


def get_current_tenant() -> Tenant | None:
    return g.get("tenant") if has_app_context() else None


current_tenant = cast("Tenant", LocalProxy(get_current_tenant))


@contextmanager
def tenant_context(tenant: Tenant) -> Iterator[Tenant]:
    """Make ``tenant`` current (jobs, CLI); restores whatever was current before."""
    previous = g.get("tenant")
    g.tenant = tenant
    try:
        yield tenant
    finally:
        g.tenant = previous

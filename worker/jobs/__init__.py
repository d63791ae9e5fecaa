"""The job decorator: every job runs in an app context, scoped to the tenant recorded in ``job.meta``."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app
from rq import get_current_job

from app.extensions import db
from tenants.context import tenant_context
from tenants.models import Tenant


def job(func: Callable) -> Callable:
    """Wrap a job: ids in, fresh session, tenant scope from ``job.meta["tenant_id"]`` when present.

    Called directly (tests, ``--burst`` debugging) it runs the same way without RQ.
    """

    @wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        current = get_current_job()
        tenant_id = current.meta.get("tenant_id") if current else None
        try:
            if tenant_id is None:
                return func(*args, **kwargs)
            tenant = db.session.get(Tenant, tenant_id)
            if tenant is None:
                current_app.logger.warning("job for a deleted tenant skipped", extra={"tenant_id": tenant_id})
                return None
            with tenant_context(tenant):
                return func(*args, **kwargs)
        finally:
            db.session.remove()

    return run

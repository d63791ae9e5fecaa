"""Tenant scoping: the mixin every tenant-owned model uses, and the safety net behind it.

Services load rows explicitly through ``Model.get_by_id_and_tenant`` / ``Model.all``; the ``do_orm_execute``
listener additionally restricts every ORM SELECT to the current tenant, so a forgotten filter leaks nothing.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Self

from flask import abort
from sqlalchemy import ForeignKey, Select, event, select
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, declared_attr, mapped_column, with_loader_criteria

from app.extensions import db
from tenants.context import get_current_tenant

if TYPE_CHECKING:
    from tenants.models import Tenant

UNSCOPED = "postroom_unscoped"


class TenantScoped:
    """Mixin for tenant-owned models: ``tenant_id NOT NULL`` and tenant-first loaders."""

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)

    @classmethod
    def all(cls, tenant: Tenant) -> Select[tuple[Self]]:
        return select(cls).where(cls.tenant_id == tenant.id)

    @classmethod
    def id_in_tenant(cls, obj_id: object, tenant: Tenant) -> bool:
        """Whether ``obj_id`` (untrusted input) names one of ``tenant``'s rows."""
        if not isinstance(obj_id, int) or isinstance(obj_id, bool) or not 0 < obj_id < 2**31:
            return False
        return db.session.scalar(select(cls.id).where(cls.tenant_id == tenant.id, cls.id == obj_id)) is not None  # type: ignore[attr-defined]

    @classmethod
    def get_by_id_and_tenant(cls, obj_id: int, tenant: Tenant) -> Self:
        """The object, or a 404 when it does not exist *or* belongs to another tenant (no existence leak)."""
        if not 0 < obj_id < 2**31:  # beyond the id column's range: cannot exist (and would be a database error)
            abort(404)
        obj = db.session.scalar(cls.all(tenant).where(cls.id == obj_id))  # type: ignore[attr-defined]
        if obj is None:
            abort(404)
        return obj


@event.listens_for(Session, "do_orm_execute")
def _restrict_to_current_tenant(state: ORMExecuteState) -> None:
    if not state.is_select or state.is_column_load or state.is_relationship_load:
        return
    if state.execution_options.get(UNSCOPED):
        return
    tenant = get_current_tenant()
    if tenant is None:
        return
    state.statement = state.statement.options(_tenant_criteria(tenant.id))


@lru_cache(maxsize=1024)
def _tenant_criteria(tenant_id: int):
    """Built once per tenant: analysing the lambda on every query cost more than the query itself."""
    return with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == tenant_id, include_aliases=True)

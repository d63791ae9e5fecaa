import pytest
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from app.tokens.models import ApiToken
from app.tokens.services import create_token
from tenants.context import current_tenant, tenant_context
from tenants.scoping import UNSCOPED


def test_loader_criteria_hide_other_tenants_rows_even_without_a_filter(db, create_tenant):
    acme, other = create_tenant("acme"), create_tenant("other")
    create_token(acme, name="acme token")
    create_token(other, name="other token")
    with tenant_context(acme):
        assert current_tenant.slug == "acme"
        names = db.session.scalars(select(ApiToken.name)).all()  # deliberately unfiltered
        assert [t.name for t in db.session.scalars(select(ApiToken))] == ["acme token"]
        assert names == ["acme token"]
        everything = db.session.scalars(select(ApiToken).execution_options(**{UNSCOPED: True})).all()
        assert len(everything) == 2


def test_get_by_id_and_tenant_is_404_across_tenants(db, create_tenant):
    acme, other = create_tenant("acme"), create_tenant("other")
    token, _ = create_token(other, name="theirs")
    with pytest.raises(NotFound):
        ApiToken.get_by_id_and_tenant(token.id, acme)
    assert ApiToken.get_by_id_and_tenant(token.id, other) is token


def test_tenant_context_restores_the_previous_tenant(db, create_tenant):
    acme, other = create_tenant("acme"), create_tenant("other")
    with tenant_context(acme):
        with tenant_context(other):
            assert current_tenant.slug == "other"
        assert current_tenant.slug == "acme"


def test_every_tenant_owned_table_has_a_non_null_tenant_id(app):
    from app.extensions import db as _db

    # Platform-level, by design: operator actions name the tenant they touched, but belong to the platform.
    shared = {"tenants", "users", "alembic_version", "operator_alerts", "operator_actions"}
    for table in _db.metadata.sorted_tables:
        if table.name in shared:
            continue
        assert "tenant_id" in table.c, table.name
        assert not table.c.tenant_id.nullable, table.name

"""The migrations are the schema: they match the models and go down and up again cleanly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade


def test_models_and_migrations_agree(app):
    from app.extensions import db

    with app.app_context(), db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert diff == []


def test_downgrade_to_base_and_upgrade_again(app):
    from sqlalchemy import inspect

    from app.extensions import db

    with app.app_context():
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert {"tenants", "users", "memberships", "invitations", "api_tokens"} <= set(
            inspect(db.engine).get_table_names())

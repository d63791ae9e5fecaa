"""The migrations are the schema: they match the models and go down and up again cleanly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade


def test_models_and_migrations_agree(app):
    from app.extensions import db

    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": _not_expression_index})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def _not_expression_index(obj, name, type_, reflected, compare_to) -> bool:
    """Expression indexes live in migrations only (autogenerate cannot compare them); test_search_index_exists
    checks the one there is."""
    return not (type_ == "index" and name == "ix_messages_search")


def test_search_index_exists_on_postgresql(app):
    from sqlalchemy import inspect

    from app.extensions import db

    with app.app_context():
        names = {index["name"] for index in inspect(db.engine).get_indexes("messages")}
        assert ("ix_messages_search" in names) == (db.engine.dialect.name == "postgresql")


def test_downgrade_to_base_and_upgrade_again(app):
    from sqlalchemy import inspect

    from app.extensions import db

    with app.app_context():
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert {"tenants", "users", "memberships", "invitations", "api_tokens"} <= set(
            inspect(db.engine).get_table_names())

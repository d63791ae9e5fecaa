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
    """PostgreSQL-only search objects (a generated tsvector column, its GIN index, a pg_trgm index) live in migrations
    only: the models run on SQLite too. test_search_indexes_exist_on_postgresql checks them."""
    if type_ == "column":
        return not (name == "search_words" and obj.table.name == "messages")
    return not (type_ == "index" and name in ("ix_messages_search", "ix_contacts_search"))


def test_search_indexes_exist_on_postgresql(app):
    from sqlalchemy import inspect

    from app.extensions import db

    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"
        for table, index in (("messages", "ix_messages_search"), ("contacts", "ix_contacts_search")):
            names = {found["name"] for found in inspect(db.engine).get_indexes(table)}
            assert (index in names) == postgresql, (table, names)


def test_downgrade_to_base_and_upgrade_again(app):
    from sqlalchemy import inspect

    from app.extensions import db

    with app.app_context():
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert {"tenants", "users", "memberships", "invitations", "api_tokens"} <= set(
            inspect(db.engine).get_table_names())

"""Postroom's web tier: ``create_app`` builds the Flask app for web, workers and the CLI alike."""

from __future__ import annotations

import os
from collections.abc import Mapping

from flask import Flask
from werkzeug.routing import IntegerConverter

from app.config import PROJECT_ROOT, load_config


def create_app(config: Mapping | None = None) -> Flask:
    """Build the app from the environment; ``config`` overrides settings (tests pass theirs here)."""
    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"), instance_path=str(PROJECT_ROOT / "instance"))
    env = dict(os.environ)
    if config and "POSTROOM_ENV" in config:
        env["POSTROOM_ENV"] = config["POSTROOM_ENV"]  # so testing never demands production secrets
    app.config.update(load_config(env))
    app.config.update(config or {})
    app.url_map.converters["int"] = DatabaseInt
    _init_extensions(app)
    _register_blueprints(app)
    return app


class DatabaseInt(IntegerConverter):
    """``<int:…>`` in every URL stops where the database's integer ids stop: /tickets/99999999999 is a 404 like any
    id that does not exist, not a database error (PostgreSQL refuses such a number outright)."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def _init_extensions(app: Flask) -> None:
    from app import models  # noqa: F401  (every model registered before mappers configure)
    from app.errors import register_error_pages
    from app.extensions import csrf, db, htmx, init_redis, limiter, login_manager, migrate, render_migration_item
    from app.i18n import init_i18n
    from app.input_guard import init_input_guard
    from app.logging import configure_logging
    from app.metrics import init_metrics
    from app.security import init_security
    from tenants.regions import init_regions

    init_metrics(app)  # first: its request hooks enclose everyone else's
    configure_logging(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True,
                     render_item=render_migration_item)
    init_redis(app)
    init_regions(app)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    init_i18n(app)
    init_security(app)
    _init_login(app, login_manager)
    register_error_pages(app)
    init_input_guard(app)


def _init_login(app: Flask, login_manager) -> None:
    from flask_babel import lazy_gettext as _l

    from app.auth.models import User
    from app.extensions import db

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    login_manager.user_loader(lambda user_id: db.session.get(User, int(user_id)))


def _register_blueprints(app: Flask) -> None:
    from app.alerts.views import bp as alerts_bp
    from app.api import init_api
    from app.audit.views import bp as audit_bp
    from app.auth.views import bp as auth_bp
    from app.cli import init_cli
    from app.connections.messages import describe, step_label
    from app.dlp.views import bp as dlp_bp
    from app.health.views import bp as health_bp
    from app.hooks.views import bp as hooks_bp
    from app.inbox.views import bp as inbox_bp
    from app.logs.views import bp as logs_bp
    from app.mailboxes.views import bp as mailboxes_bp
    from app.members.views import bp as members_bp
    from app.members.views import public as invitations_bp
    from app.notify.views import bp as notifications_bp
    from app.oauth.views import bp as oauth_connect_bp
    from app.oauth.views import public as oauth_bp
    from app.operator.views import bp as operator_bp
    from app.ops.views import bp as ops_bp
    from app.portal.nav import nav_context
    from app.portal.views import bp as portal_bp
    from app.quarantine.views import bp as quarantine_bp
    from app.queues.views import bp as queues_bp
    from app.replies.views import bp as reply_templates_bp  # also adds its route to the inbox blueprint
    from app.rules.views import bp as rules_bp
    from app.settings.views import bp as settings_bp
    from app.trace.views import bp as trace_bp
    from app.webhooks.views import bp as webhooks_bp

    for blueprint in (auth_bp, ops_bp, portal_bp, members_bp, invitations_bp, settings_bp, mailboxes_bp,
                      oauth_connect_bp, oauth_bp, queues_bp, audit_bp, inbox_bp, quarantine_bp, rules_bp,
                      reply_templates_bp, notifications_bp, dlp_bp, webhooks_bp, hooks_bp, health_bp, trace_bp,
                      operator_bp, logs_bp, alerts_bp):
        app.register_blueprint(blueprint)
    app.context_processor(nav_context)
    app.jinja_env.globals.update(step_label=step_label, describe_step=describe)
    init_api(app)
    init_cli(app)

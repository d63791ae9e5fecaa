"""Notification templates: per event and language, the tenant's own or the built-in default."""

from __future__ import annotations

from flask import abort, g
from flask_smorest import Blueprint

from app.api import settings_schemas as schemas
from app.api.auth import authenticate_token
from app.auth.validation import LOCALES
from app.notify import services
from app.notify.events import EVENTS

blp = Blueprint("api_notification_templates", __name__, url_prefix="/notification-templates",
                description="Notification templates per event and language")
blp.before_request(authenticate_token)


def _template(event: str, locale: str) -> dict:
    if event not in EVENTS or locale not in LOCALES:
        abort(404)
    subject, body = services.current_source(g.tenant, event, locale)
    return {"event": event, "locale": locale, "subject": subject, "body": body,
            "customized": services.find_template(g.tenant, event, locale) is not None}


@blp.route("", methods=["GET"])
@blp.response(200, schemas.TemplateSchema(many=True))
def list_templates():
    """Every event in every language, with the text in use."""
    return [_template(event, locale) for event in EVENTS for locale in LOCALES]


@blp.route("/<event>/<locale>", methods=["GET"])
@blp.response(200, schemas.TemplateSchema)
def get_template(event: str, locale: str):
    return _template(event, locale)


@blp.route("/<event>/<locale>", methods=["PUT"])
@blp.arguments(schemas.TemplateUpdateSchema)
@blp.response(200, schemas.TemplateSchema)
def put_template(body: dict, event: str, locale: str):
    """A syntax error, an unknown merge field or anything the sandbox refuses is a 422 at ``#/subject`` or
    ``#/body``, with the line."""
    _template(event, locale)
    services.save_template(g.tenant, event, locale, subject=body["subject"], body=body["body"],
                           author_id=g.api_token.created_by_id)
    return _template(event, locale)


@blp.route("/<event>/<locale>", methods=["DELETE"])
@blp.response(204)
def reset_template(event: str, locale: str):
    """Back to the built-in default."""
    _template(event, locale)
    services.reset_template(g.tenant, event, locale)

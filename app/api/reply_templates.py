"""Canned replies agents insert: the portal's Templates page (``app.replies.views``), over the same services."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from app.api import reply_template_schemas as schemas
from app.api.auth import authenticate_token
from app.api.pagination import PageArgsSchema, paginate
from app.replies import services
from app.replies.models import ReplyTemplate

blp = Blueprint("api_reply_templates", __name__, url_prefix="/reply-templates",
                description="Canned replies agents insert")
blp.before_request(authenticate_token)


@blp.route("", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, schemas.ReplyTemplatePageSchema)
def list_reply_templates(args: dict):
    return paginate(ReplyTemplate.all(g.tenant).order_by(ReplyTemplate.name, ReplyTemplate.id), **args)


@blp.route("", methods=["POST"])
@blp.arguments(schemas.ReplyTemplateCreateSchema)
@blp.response(201, schemas.ReplyTemplateSchema)
def create_reply_template(body: dict):
    """A missing, too long or taken name is a 422 at ``#/name``; a missing or too long body, or one with a
    ``{{ … }}`` that is not a merge field, at ``#/body``."""
    return services.create_template(g.tenant, name=body["name"], body=body["body"])


@blp.route("/<int:template_id>", methods=["GET"])
@blp.response(200, schemas.ReplyTemplateSchema)
@blp.alt_response(404, response="NOT_FOUND")
def get_reply_template(template_id: int):
    return ReplyTemplate.get_by_id_and_tenant(template_id, g.tenant)


@blp.route("/<int:template_id>", methods=["PATCH"])
@blp.arguments(schemas.ReplyTemplateUpdateSchema)
@blp.response(200, schemas.ReplyTemplateSchema)
@blp.alt_response(404, response="NOT_FOUND")
def update_reply_template(changes: dict, template_id: int):
    """Fields not given keep their values; refused as a create is."""
    template = ReplyTemplate.get_by_id_and_tenant(template_id, g.tenant)
    services.update_template(template, name=changes.get("name", template.name),
                             body=changes.get("body", template.body))
    return template


@blp.route("/<int:template_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, response="NOT_FOUND")
def delete_reply_template(template_id: int):
    services.delete_template(ReplyTemplate.get_by_id_and_tenant(template_id, g.tenant))

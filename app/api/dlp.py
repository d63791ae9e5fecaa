"""Data-protection rules for agents' replies, and a check of a text against them."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from app.api import settings_schemas as schemas
from app.api.auth import authenticate_token
from app.api.pagination import PageArgsSchema, paginate
from app.dlp import services
from app.dlp.models import DlpRule

blp = Blueprint("api_dlp", __name__, url_prefix="/dlp-rules", description="Data-protection rules for replies")
blp.before_request(authenticate_token)


@blp.route("", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, schemas.DlpRulePageSchema)
def list_rules(args: dict):
    return paginate(DlpRule.all(g.tenant).order_by(DlpRule.id), **args)


@blp.route("", methods=["POST"])
@blp.arguments(schemas.DlpRuleCreateSchema)
@blp.response(201, schemas.DlpRuleSchema)
def create_rule(body: dict):
    """A pattern that is not valid, or too slow on sample texts, is a 422 at ``#/pattern``."""
    return services.create_rule(g.tenant, **body)


@blp.route("/<int:rule_id>", methods=["GET"])
@blp.response(200, schemas.DlpRuleSchema)
def get_rule(rule_id: int):
    return DlpRule.get_by_id_and_tenant(rule_id, g.tenant)


@blp.route("/<int:rule_id>", methods=["PATCH"])
@blp.arguments(schemas.DlpRuleUpdateSchema)
@blp.response(200, schemas.DlpRuleSchema)
def update_rule(changes: dict, rule_id: int):
    rule = DlpRule.get_by_id_and_tenant(rule_id, g.tenant)
    services.update_rule(rule, **changes)
    return rule


@blp.route("/<int:rule_id>", methods=["DELETE"])
@blp.response(204)
def delete_rule(rule_id: int):
    services.delete_rule(DlpRule.get_by_id_and_tenant(rule_id, g.tenant))


@blp.route("/check", methods=["POST"])
@blp.arguments(schemas.DlpCheckSchema)
@blp.response(200, schemas.VerdictSchema)
def check(body: dict):
    """What the tenant's enabled rules would do to a reply with this text; nothing is sent or stored."""
    verdict = services.scan_outgoing(g.tenant, body["text"], subject=body["subject"])
    return {"blocked": verdict.blocked, "text": verdict.text, "blocked_by": verdict.blocked_by,
            "redacted": verdict.redacted}

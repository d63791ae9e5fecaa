"""Routing rules: ordered regex rules that set queue, category and priority of new tickets."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from app.api import rule_schemas as schemas
from app.api.auth import authenticate_token
from app.api.pagination import PageArgsSchema, paginate
from app.routing.models import RoutingRule
from app.rules import services
from app.rules.tester import try_rules

blp = Blueprint("api_rules", __name__, url_prefix="/rules", description="Routing rules of the tenant")
blp.before_request(authenticate_token)


@blp.route("", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, schemas.RulePageSchema)
def list_rules(args: dict):
    """In the order they run."""
    return paginate(RoutingRule.all(g.tenant).order_by(RoutingRule.position, RoutingRule.id), **args)


@blp.route("", methods=["POST"])
@blp.arguments(schemas.RuleCreateSchema)
@blp.response(201, schemas.RuleSchema)
def create_rule(body: dict):
    """A bad pattern is a 422 whose error at ``#/pattern`` quotes the regular expression engine."""
    return services.create_rule(g.tenant, **body)


@blp.route("/<int:rule_id>", methods=["GET"])
@blp.response(200, schemas.RuleSchema)
def get_rule(rule_id: int):
    return RoutingRule.get_by_id_and_tenant(rule_id, g.tenant)


@blp.route("/<int:rule_id>", methods=["PATCH"])
@blp.arguments(schemas.RuleUpdateSchema)
@blp.response(200, schemas.RuleSchema)
def update_rule(changes: dict, rule_id: int):
    """Fields not given keep their values; ``position`` moves the rule. One bad field changes nothing."""
    rule = RoutingRule.get_by_id_and_tenant(rule_id, g.tenant)
    services.update_rule(rule, **changes)
    return rule


@blp.route("/<int:rule_id>", methods=["DELETE"])
@blp.response(204)
def delete_rule(rule_id: int):
    services.delete_rule(RoutingRule.get_by_id_and_tenant(rule_id, g.tenant))


@blp.route("/test", methods=["POST"])
@blp.arguments(schemas.RuleTrialInSchema)
@blp.response(200, schemas.RuleTrialSchema)
def test_rules(body: dict):
    """Run every rule on a made-up mail without changing anything: which match, and what a new ticket would get."""
    return try_rules(g.tenant, subject=body["subject"], body=body["body"], sender=body["sender"])

"""Alert rules (every kind exists for every tenant: they are read and changed, not created) and the alerts they
opened, newest first."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from app.alerts import services
from app.alerts.models import KINDS, Alert
from app.api import alert_schemas as schemas
from app.api.auth import authenticate_token
from app.api.pagination import paginate

blp = Blueprint("api_alerts", __name__, description="Alert rules and the alerts they open")
blp.before_request(authenticate_token)
KIND = f"<any({', '.join(KINDS)}):kind>"


@blp.route("/alert-rules", methods=["GET"])
@blp.response(200, schemas.AlertRuleListSchema)
def list_rules():
    return {"items": services.rules(g.tenant)}


@blp.route(f"/alert-rules/{KIND}", methods=["GET"])
@blp.response(200, schemas.AlertRuleSchema)
def get_rule(kind: str):
    return services.get_rule(g.tenant, kind)


@blp.route(f"/alert-rules/{KIND}", methods=["PATCH"])
@blp.arguments(schemas.AlertRuleUpdateSchema)
@blp.response(200, schemas.AlertRuleSchema)
def update_rule(changes: dict, kind: str):
    """Switching a rule off closes its open alerts, without a notice."""
    return services.update_rule(g.tenant, kind, **changes)


@blp.route("/alerts", methods=["GET"])
@blp.arguments(schemas.AlertListArgsSchema, location="query")
@blp.response(200, schemas.AlertPageSchema)
def list_alerts(args: dict):
    query = Alert.all(g.tenant)
    state = args.pop("state")
    if state != "all":
        query = query.where(Alert.resolved_at.is_(None) if state == "open" else Alert.resolved_at.is_not(None))
    return paginate(query.order_by(Alert.opened_at.desc(), Alert.id.desc()), **args)


@blp.route("/alerts/<int:alert_id>", methods=["GET"])
@blp.response(200, schemas.AlertSchema)
def get_alert(alert_id: int):
    return Alert.get_by_id_and_tenant(alert_id, g.tenant)

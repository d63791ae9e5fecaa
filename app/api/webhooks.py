"""Webhook endpoints, their delivery logs and replays."""

from __future__ import annotations

from flask import abort, g
from flask_smorest import Blueprint
from sqlalchemy import select

from app.api import webhook_schemas as schemas
from app.api.auth import authenticate_token
from app.api.pagination import PageArgsSchema, paginate
from app.audit.services import record
from app.extensions import db
from app.webhooks import endpoints, services
from app.webhooks.models import WebhookDelivery, WebhookEndpoint

blp = Blueprint("api_webhooks", __name__, url_prefix="/webhooks", description="Webhook endpoints and deliveries")
blp.before_request(authenticate_token)


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    return WebhookEndpoint.get_by_id_and_tenant(endpoint_id, g.tenant)


@blp.route("", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, schemas.EndpointPageSchema)
def list_endpoints(args: dict):
    return paginate(WebhookEndpoint.all(g.tenant).order_by(WebhookEndpoint.id), **args)


@blp.route("", methods=["POST"])
@blp.arguments(schemas.EndpointCreateSchema)
@blp.response(201, schemas.EndpointWithSecretSchema)
def create_endpoint(body: dict):
    """The answer holds the signing secret, once. A URL that is not https or points inside is a 422 at ``#/url``."""
    endpoint, _secret = endpoints.create_endpoint(g.tenant, **body)
    db.session.commit()
    return endpoint  # its ``secret`` is the new one: this answer is the only one that shows it


@blp.route("/<int:endpoint_id>", methods=["GET"])
@blp.response(200, schemas.EndpointSchema)
def get_endpoint(endpoint_id: int):
    return _endpoint(endpoint_id)


@blp.route("/<int:endpoint_id>", methods=["PATCH"])
@blp.arguments(schemas.EndpointUpdateSchema)
@blp.response(200, schemas.EndpointSchema)
def update_endpoint(changes: dict, endpoint_id: int):
    """Fields not given keep their values; setting ``active`` again after a switch-off starts afresh."""
    endpoint = _endpoint(endpoint_id)
    current = {"url": endpoint.url, "events": list(endpoint.events or []), "description": endpoint.description,
               "active": endpoint.active}
    endpoints.update_endpoint(g.tenant, endpoint, **{**current, **changes})
    db.session.commit()
    return endpoint


@blp.route("/<int:endpoint_id>", methods=["DELETE"])
@blp.response(204)
def delete_endpoint(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    record(g.tenant, "webhook.deleted", object_type="webhook_endpoint", object_id=endpoint.id, label=endpoint.url)
    db.session.delete(endpoint)
    db.session.commit()


@blp.route("/<int:endpoint_id>/rotate-secret", methods=["POST"])
@blp.response(200, schemas.EndpointWithSecretSchema)
def rotate_secret(endpoint_id: int):
    """A new secret, in this answer only; the previous one keeps signing alongside it for 24 hours."""
    endpoint = _endpoint(endpoint_id)
    endpoints.rotate_secret(g.tenant, endpoint)
    db.session.commit()
    return endpoint


@blp.route("/<int:endpoint_id>/deliveries", methods=["GET"])
@blp.arguments(schemas.DeliveryArgsSchema, location="query")
@blp.response(200, schemas.DeliveryPageSchema)
def list_deliveries(args: dict, endpoint_id: int):
    """Newest first, each with its attempts; ``status=dead`` lists the dead letters."""
    endpoint = _endpoint(endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.tenant_id == g.tenant.id,
                                          WebhookDelivery.endpoint_id == endpoint.id)
    if args.get("status"):
        query = query.where(WebhookDelivery.status == args["status"])
    return paginate(query.order_by(WebhookDelivery.id.desc()), page=args["page"], per_page=args["per_page"])


@blp.route("/<int:endpoint_id>/deliveries/<int:delivery_id>/replay", methods=["POST"])
@blp.response(202, schemas.DeliverySchema)
def replay_delivery(endpoint_id: int, delivery_id: int):
    """Send it again: the same body and the same ``Postroom-Id``."""
    endpoint = _endpoint(endpoint_id)
    delivery = services.delivery_of(g.tenant, endpoint, delivery_id)
    if delivery is None:
        abort(404)
    services.replay(g.tenant, delivery)
    db.session.commit()
    return delivery

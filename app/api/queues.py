"""Queues: where mailbox addresses route mail (IT, HR, Facilities…)."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from app.api.auth import authenticate_token
from app.api.mailbox_schemas import QueueCreateSchema, QueuePageSchema, QueueSchema, QueueUpdateSchema
from app.api.pagination import PageArgsSchema, paginate
from app.queues import services
from app.queues.models import Queue

blp = Blueprint("api_queues", __name__, url_prefix="/queues", description="Queues of the tenant")
blp.before_request(authenticate_token)


@blp.route("", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, QueuePageSchema)
def list_queues(args: dict):
    return paginate(Queue.all(g.tenant).order_by(Queue.name, Queue.id), **args)


@blp.route("", methods=["POST"])
@blp.arguments(QueueCreateSchema)
@blp.response(201, QueueSchema)
def create_queue(body: dict):
    return services.create_queue(g.tenant, name=body["name"], description=body["description"])


@blp.route("/<int:queue_id>", methods=["GET"])
@blp.response(200, QueueSchema)
def get_queue(queue_id: int):
    return Queue.get_by_id_and_tenant(queue_id, g.tenant)


@blp.route("/<int:queue_id>", methods=["PATCH"])
@blp.arguments(QueueUpdateSchema)
@blp.response(200, QueueSchema)
def update_queue(changes: dict, queue_id: int):
    queue = Queue.get_by_id_and_tenant(queue_id, g.tenant)
    services.update_queue(queue, name=changes.get("name", queue.name),
                          description=changes.get("description", queue.description))
    return queue


@blp.route("/<int:queue_id>", methods=["DELETE"])
@blp.response(204)
def delete_queue(queue_id: int):
    """Delete a queue; addresses routed to it fall back to their mailbox's default."""
    services.delete_queue(Queue.get_by_id_and_tenant(queue_id, g.tenant))

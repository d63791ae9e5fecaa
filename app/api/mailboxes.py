"""Mailboxes: the API's nested shape over the services' flat settings, connection tests, health and the log.

The services validate and report errors by their flat field names; ``_service_errors`` re-points them at the
request's nested fields (``inbound_host`` → ``#/inbound/host``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import g, url_for
from flask_babel import gettext as _
from flask_smorest import Blueprint
from sqlalchemy import select

from app.api import mailbox_schemas as schemas
from app.api.auth import authenticate_token
from app.api.pagination import PageArgsSchema, paginate
from app.connections import services as connections
from app.connections.models import ConnectionLog
from app.errors import FieldErrors
from app.extensions import db
from app.mailboxes import services
from app.mailboxes import validation as check
from app.mailboxes.models import Mailbox
from app.queues.models import Queue

blp = Blueprint("api_mailboxes", __name__, url_prefix="/mailboxes", description="Mailboxes, their tests and health")
blp.before_request(authenticate_token)

# request part -> {API key: service's flat field name}
_PARTS = {
    "inbound": {"protocol": "inbound_protocol", "host": "inbound_host", "port": "inbound_port",
                "security": "inbound_security", "username": "inbound_username", "password": "inbound_password",
                "oauth_grant_id": "oauth_grant_id", "after_fetch": "after_fetch", "move_to_folder": "move_to_folder",
                "ca_pem": "ca_pem"},
    "outbound": {"mode": "outbound_mode", "host": "outbound_host", "port": "outbound_port",
                 "security": "outbound_security", "username": "outbound_username",
                 "password": "outbound_password", "oauth_grant_id": "oauth_grant_id"},
    "sync": {"mode": "sync_mode", "interval_seconds": "poll_interval"},
}
# the service's flat field name -> the API's pointer (without "#/")
POINTERS = {
    "default_queue_id": "queue", "folders": "inbound/folder",
    **{flat: f"{part}/{key}" for part, keys in _PARTS.items() for key, flat in keys.items()},
}
# what a new mailbox starts from, so that the service reports missing fields instead of failing on them
_BLANK = {"name": "", "address": "", "inbound_host": "", "inbound_port": None, "inbound_username": ""}


@contextmanager
def _service_errors(**pointers: str) -> Iterator[None]:
    """Roll back and re-raise a service's ``FieldErrors`` under the API's field names."""
    try:
        yield
    except FieldErrors as error:
        db.session.rollback()  # a half-done create (flushed, not committed) must not linger in the session
        mapping = {**POINTERS, **pointers}
        raise FieldErrors({mapping.get(field, field): message for field, message in error.errors.items()}) from None


def _queue_id(value: Any) -> int | None:
    """The id of the token's tenant's queue named by ``value`` (id or exact name); ``None`` when there is none."""
    if value is None or (isinstance(value, int) and not 0 < value < 2**31):  # beyond the column: no such queue
        return None
    column = Queue.id if isinstance(value, int) else Queue.name
    return db.session.scalar(select(Queue.id).where(Queue.tenant_id == g.tenant.id, column == value))


def _settings(body: dict) -> tuple[dict, dict[str, str]]:
    """Nested request → the service's flat settings (only the keys given), and pointer overrides for errors."""
    flat: dict[str, Any] = {key: body[key] for key in ("name", "address", "from_name", "reply_to", "signature",
                                                      "disclaimer", "sent_folder") if key in body}
    pointers: dict[str, str] = {}
    if "queue" in body:
        # an unknown queue goes to the service as a name (never an int it would look up: out-of-range ids fail
        # in the database); it refuses it, with the other errors, at #/queue
        queue_id = _queue_id(body["queue"])
        flat["default_queue_id"] = queue_id if queue_id or body["queue"] is None else str(body["queue"])
    for part, keys in _PARTS.items():
        given = body.get(part)
        if part == "outbound" and part in body and given is None:
            flat["outbound_mode"] = "none"
            continue
        for key, name in keys.items():
            if given and key in given:
                flat[name] = given[key]
    inbound = body.get("inbound") or {}
    if "folders" in inbound:
        flat["folders"] = [folder.strip() for folder in inbound["folders"]]
        pointers["folders"] = "inbound/folders"
    elif "folder" in inbound:
        flat["folders"] = [inbound["folder"].strip()]
    return flat, pointers


def _aliases(items: list[dict]) -> list[tuple[str, dict]]:
    """``[(address, item)]``, with each item's queue resolved to an id; unknown queues are field errors."""
    errors, resolved = {}, []
    for index, item in enumerate(items):
        item = dict(item)
        if item.get("queue") is not None:
            item["queue"] = _queue_id(item["queue"])
            if item["queue"] is None:
                errors[f"aliases/{index}/queue"] = _("Choose one of your queues.")
        resolved.append((item["address"], item))
    if errors:
        raise FieldErrors(errors)
    return resolved


def _normalized(address: str) -> str | None:
    return check.address_error(address, g.tenant)[0]


def _route(mailbox: Mailbox, aliases: list[tuple[str, dict]]) -> None:
    """Route the aliases that name their own queue (``"queue": null`` = the mailbox's default)."""
    by_address = {alias.address.lower(): alias for alias in mailbox.aliases}
    for address, item in aliases:
        alias = by_address.get((_normalized(address) or "").lower())
        if alias is not None and "queue" in item and alias.queue_id != item["queue"]:
            with _service_errors(queue_id="aliases"):
                services.route_alias(alias, item["queue"])


def _check_addresses(aliases: list[tuple[str, dict]]) -> None:
    """Refuse malformed or disallowed alias addresses before anything changes."""
    errors = {f"aliases/{index}": message for index, (address, _item) in enumerate(aliases)
              if (message := check.address_error(address, g.tenant)[1])}
    if errors:
        raise FieldErrors(errors)


def _replace_aliases(mailbox: Mailbox, aliases: list[tuple[str, dict]]) -> None:
    """Make the mailbox's aliases exactly ``aliases``: remove the others, add the new ones, then route.

    Addresses, queues and clashes with other mailboxes are all checked before the first change is written.
    """
    wanted = {(_normalized(address) or "").lower() for address, _item in aliases}
    taken = sorted(a for a in wanted if a and services.address_in_use(g.tenant, a, mailbox.id))
    if taken:
        raise FieldErrors({"aliases": _("%(address)s is already used by a mailbox.", address=taken[0])})
    for alias in list(mailbox.aliases):
        if alias.address.lower() not in wanted:
            services.remove_alias(alias)
    existing = {alias.address.lower() for alias in mailbox.aliases}
    for address, item in aliases:
        if (_normalized(address) or "").lower() not in existing:
            with _service_errors():
                alias = services.add_alias(mailbox, address, item.get("queue"))
            existing.add(alias.address.lower())
    db.session.refresh(mailbox)
    _route(mailbox, aliases)


def _mailbox(mailbox_id: int) -> Mailbox:
    return Mailbox.get_by_id_and_tenant(mailbox_id, g.tenant)


@blp.route("", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, schemas.MailboxPageSchema)
def list_mailboxes(args: dict):
    return paginate(Mailbox.all(g.tenant).order_by(Mailbox.name, Mailbox.id), **args)


@blp.route("", methods=["POST"])
@blp.arguments(schemas.MailboxInSchema)
@blp.response(201, schemas.MailboxSchema)
def create_mailbox(body: dict):
    """Add a mailbox. Its passwords are stored encrypted and never shown again; answers carry ``has_password``.

    ``"outbound": null`` (or ``"mode": "none"``) receives only. Start a connection test with ``POST .../test``.
    """
    settings, pointers = _settings(body)
    aliases = _aliases(body.get("aliases", []))
    with _service_errors(**pointers):
        mailbox = services.create_mailbox(g.tenant, {**_BLANK, **settings}, [address for address, _i in aliases])
    _route(mailbox, aliases)
    return mailbox


@blp.route("/<int:mailbox_id>", methods=["GET"])
@blp.response(200, schemas.MailboxSchema)
def get_mailbox(mailbox_id: int):
    return _mailbox(mailbox_id)


@blp.route("/<int:mailbox_id>", methods=["PATCH"])
@blp.arguments(schemas.MailboxUpdateSchema)
@blp.response(200, schemas.MailboxSchema)
def update_mailbox(changes: dict, mailbox_id: int):
    """Change some settings (every part optional). An omitted or empty password keeps the stored one.

    ``aliases``, when given, replaces the mailbox's other addresses; items without a ``queue`` keep their routing.
    """
    mailbox = _mailbox(mailbox_id)
    settings, pointers = _settings(changes)
    aliases = _aliases(changes["aliases"]) if "aliases" in changes else None
    if aliases is not None:
        _check_addresses(aliases)
    if settings:
        with _service_errors(**pointers):
            services.update_mailbox(mailbox, settings)
    if aliases is not None:
        _replace_aliases(mailbox, aliases)
    return mailbox


@blp.route("/<int:mailbox_id>", methods=["DELETE"])
@blp.response(204)
def delete_mailbox(mailbox_id: int):
    services.delete_mailbox(_mailbox(mailbox_id))


@blp.route("/<int:mailbox_id>/pause", methods=["POST"])
@blp.response(200, schemas.MailboxSchema)
def pause_mailbox(mailbox_id: int):
    """Stop fetching and sending until resumed."""
    mailbox = _mailbox(mailbox_id)
    services.pause_mailbox(mailbox)
    return mailbox


@blp.route("/<int:mailbox_id>/resume", methods=["POST"])
@blp.response(200, schemas.MailboxSchema)
def resume_mailbox(mailbox_id: int):
    """Fetch and send again (also after failures: the failure streak starts over)."""
    mailbox = _mailbox(mailbox_id)
    services.resume_mailbox(mailbox)
    return mailbox


@blp.route("/<int:mailbox_id>/sync", methods=["POST"])
@blp.response(202, schemas.JobCreatedSchema)
def sync_mailbox(mailbox_id: int):
    """Sync now: fetch new mail at once; follow it at ``GET /api/v1/jobs/{job_id}``."""
    from app.inbound.services import start_sync

    job = start_sync(_mailbox(mailbox_id))
    return {"job_id": job.id}, 202, {"Location": url_for("api_jobs.get_job", job_id=job.id)}


@blp.route("/<int:mailbox_id>/backfill", methods=["POST"])
@blp.arguments(schemas.BackfillSchema)
@blp.response(202, schemas.JobCreatedSchema)
def backfill_mailbox(body: dict, mailbox_id: int):
    """Import mail that arrived since ``since`` (a date) and is not in Postroom yet; follow the job like a sync."""
    from app.inbound.backfill import start_backfill

    job = start_backfill(_mailbox(mailbox_id), body["since"])
    return {"job_id": job.id}, 202, {"Location": url_for("api_jobs.get_job", job_id=job.id)}


@blp.route("/<int:mailbox_id>/test", methods=["POST"])
@blp.response(202, schemas.JobCreatedSchema)
def test_mailbox(mailbox_id: int):
    """Start a connection test; follow it at ``GET /api/v1/jobs/{job_id}`` (also in the ``Location`` header)."""
    test = connections.start_test(_mailbox(mailbox_id))
    return {"job_id": test.job_id}, 202, {"Location": url_for("api_jobs.get_job", job_id=test.job_id)}


@blp.route("/<int:mailbox_id>/health", methods=["GET"])
@blp.response(200, schemas.HealthSchema)
def mailbox_health(mailbox_id: int):
    """Status, last successful sync, and the last 24 hours: attempts, success rate, median latency."""
    return connections.health(_mailbox(mailbox_id))


@blp.route("/<int:mailbox_id>/log", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, schemas.ConnectionLogPageSchema)
def mailbox_log(args: dict, mailbox_id: int):
    """The communication log: every connection attempt (tests, syncs, sends), newest first."""
    mailbox = _mailbox(mailbox_id)
    query = ConnectionLog.all(g.tenant).where(ConnectionLog.mailbox_id == mailbox.id)
    return paginate(query.order_by(ConnectionLog.started_at.desc(), ConnectionLog.id.desc()), **args)


"""``/hooks/…``: unauthenticated by design (the callers are mail servers and providers), so every call proves
itself with a signature before anything happens; a refused call is a plain 404 or 403 with no effect."""

from __future__ import annotations

from flask import Blueprint, request

from app.extensions import csrf
from app.hooks.services import Refused, count_refusal, mailbox_for_client_state, mailbox_for_token, sync_now

bp = Blueprint("hooks", __name__, url_prefix="/hooks")
MAX_BODY = 64 * 1024


@bp.post("/poke/<token>")
@csrf.exempt
def poke(token: str):
    """A mail server's "new mail here": the mailbox syncs at once (its job goes to the front of nothing: the poll
    queue is short, and a sync already running takes the new mail with it)."""
    try:
        mailbox = mailbox_for_token(token)
    except Refused as refused:
        count_refusal(refused.reason)
        return "", 404
    return {"status": "accepted", "job": sync_now(mailbox)}, 202


@bp.post("/graph")
@csrf.exempt
def graph():
    """Microsoft Graph change notifications. Subscribing sends ``validationToken``: echo it as text within 10 s.
    Each notification's ``clientState`` names and proves its mailbox; one bad entry refuses the whole call."""
    token = request.args.get("validationToken")
    if token is not None:
        return token[:1024], 200, {"Content-Type": "text/plain; charset=utf-8"}
    if (request.content_length or 0) > MAX_BODY:
        count_refusal("too_large")
        return "", 413
    payload = request.get_json(silent=True)
    entries = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(entries, list) or not entries or len(entries) > 100:
        count_refusal("malformed")
        return "", 400
    try:
        mailboxes = {mailbox.id: mailbox for mailbox in
                     (mailbox_for_client_state(entry.get("clientState") if isinstance(entry, dict) else None)
                      for entry in entries)}
    except Refused as refused:
        count_refusal(refused.reason)
        return "", 403
    for mailbox in mailboxes.values():
        sync_now(mailbox)
    return "", 202


@bp.post("/gmail")
@csrf.exempt
def gmail():
    """Gmail push through Pub/Sub; see ``app.hooks.gmail`` for what is verified. Acknowledged with 204 so that
    Pub/Sub does not send it again; a refused push gets 403 (Pub/Sub retries, and a forged one stays refused)."""
    from app.hooks.gmail import mailbox_for_push

    if (request.content_length or 0) > MAX_BODY:
        count_refusal("too_large")
        return "", 413
    try:
        mailbox = mailbox_for_push(request.headers.get("Authorization"), request.get_json(silent=True))
    except Refused as refused:
        count_refusal(refused.reason)
        return "", 403
    sync_now(mailbox)
    return "", 204

"""Mailboxes: create, change, pause, resume, delete; their addresses and queues. Every change is audited."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from app.audit.services import diff, record
from app.auth import validation as v
from app.errors import FieldErrors
from app.extensions import db
from app.mailboxes import validation as check
from app.mailboxes.models import Mailbox, MailboxAlias, MailboxStatus, OutboundMode, Protocol, SyncMode
from app.queues.models import Queue
from app.sql import equals_ignoring_case
from tenants.models import Tenant

SECRET_FIELDS = frozenset({"inbound_password", "outbound_password"})
SETTINGS = ("name", "address", "default_queue_id", "inbound_protocol", "inbound_host", "inbound_port",
            "inbound_security", "inbound_username", "inbound_password", "folders", "after_fetch", "move_to_folder",
            "sync_mode", "poll_interval", "ca_pem", "outbound_mode", "outbound_host", "outbound_port",
            "outbound_security", "outbound_username", "outbound_password", "from_name", "reply_to", "oauth_grant_id",
            "signature", "disclaimer", "sent_folder")
TEXT_FIELDS = frozenset({"signature", "disclaimer"})  # empty means none: stored as "", never NULL
DEFAULTS = {"inbound_protocol": "imap", "inbound_security": "tls", "folders": ["INBOX"], "after_fetch": "keep",
            "sync_mode": "poll", "poll_interval": 60, "outbound_mode": "own", "outbound_security": "starttls"}


def mailboxes(tenant: Tenant) -> list[Mailbox]:
    return list(db.session.scalars(Mailbox.all(tenant).order_by(Mailbox.name)))


def _current(mailbox: Mailbox) -> dict[str, Any]:
    return {name: getattr(mailbox, name) for name in SETTINGS}


def address_in_use(tenant: Tenant, address: str, mailbox_id: int | None) -> bool:
    mailbox_hit = select(Mailbox.id).where(Mailbox.tenant_id == tenant.id,
                                           equals_ignoring_case(Mailbox.address, address))
    alias_hit = select(MailboxAlias.mailbox_id).where(MailboxAlias.tenant_id == tenant.id,
                                                      equals_ignoring_case(MailboxAlias.address, address))
    owners = set(db.session.scalars(mailbox_hit)) | set(db.session.scalars(alias_hit))
    return bool(owners - {mailbox_id})


def _queue_error(tenant: Tenant, queue_id: Any) -> str | None:
    if queue_id in (None, ""):
        return None
    return None if Queue.id_in_tenant(queue_id, tenant) else _("Choose one of your queues.")


def _text_error(value, max_length: int, *, required: bool = False) -> str | None:
    if not (value or "").strip():
        return _("This field is required.") if required else None
    return _("Use at most %(max)s characters.", max=max_length) if len(value) > max_length else None


def _inbound_errors(tenant: Tenant, data: dict, is_new: bool) -> dict[str, str | None]:
    return {
        "inbound_protocol": check.choice_error(data.get("inbound_protocol"), Protocol),
        "inbound_host": check.host_error(data.get("inbound_host") or ""),
        "inbound_port": check.port_error(data.get("inbound_port")),
        "inbound_security": check.security_error(data.get("inbound_security") or "", tenant),
        "inbound_username": _text_error(data.get("inbound_username"), 254, required=True),
        "move_to_folder": _text_error(data.get("move_to_folder"), 255),
        "inbound_password": _("This field is required.")
        if is_new and not data.get("inbound_password") and not data.get("oauth_grant_id") else None,
        "oauth_grant_id": _grant_error(tenant, data.get("oauth_grant_id"), data.get("id")),
        "folders": check.folders_error(data.get("folders") or []),
        "poll_interval": check.poll_interval_error(data.get("poll_interval")),
        "ca_pem": check.ca_error(data.get("ca_pem")),
        **check.inbound_rules_error(data.get("inbound_protocol"), data.get("after_fetch"), data.get("sync_mode"),
                                    data.get("move_to_folder")),
    }


def _grant_error(tenant: Tenant, grant_id, mailbox_id: int | None) -> str | None:
    """OAuth grants come from the onboarding flow; an id must name one of this tenant's, not used elsewhere."""
    from app.oauth.models import OAuthGrant

    if grant_id in (None, ""):
        return None
    if not OAuthGrant.id_in_tenant(grant_id, tenant):
        return _("There is no such OAuth grant.")
    users = set(db.session.scalars(select(Mailbox.id).where(Mailbox.tenant_id == tenant.id,
                                                             Mailbox.oauth_grant_id == grant_id)))
    if users - {mailbox_id}:
        return _("This OAuth grant belongs to another mailbox. Connect this one with its own sign-in.")
    return None


def _outbound_errors(tenant: Tenant, data: dict, had_password: bool) -> dict[str, str | None]:
    mode_error = check.outbound_mode_error(data.get("outbound_mode"), tenant)
    if mode_error or data.get("outbound_mode") != OutboundMode.OWN:
        return {"outbound_mode": mode_error}
    required = _("This field is required.")
    return {
        "outbound_host": check.host_error(data.get("outbound_host") or ""),
        "outbound_port": check.port_error(data.get("outbound_port")),
        "outbound_security": check.security_error(data.get("outbound_security") or "", tenant),
        "outbound_username": _text_error(data.get("outbound_username"), 254, required=True),
        "outbound_password": required
        if not (had_password or data.get("outbound_password") or data.get("oauth_grant_id")) else None,
    }


def _validated(tenant: Tenant, data: dict, mailbox: Mailbox | None) -> dict:
    address, address_message = check.address_error(data.get("address") or "", tenant)
    if address and address_in_use(tenant, address, mailbox.id if mailbox else None):
        address_message = _("Another mailbox already uses this address.")
    reply_to_message = v.normalize_email(data["reply_to"])[1] if data.get("reply_to") else None
    for key in ("inbound_host", "outbound_host", "inbound_username", "outbound_username", "move_to_folder",
                "from_name", "sent_folder"):
        if isinstance(data.get(key), str):
            data[key] = data[key].strip()
    errors = {"name": v.name_error(data.get("name") or ""), "address": address_message,
              "from_name": _text_error(data.get("from_name"), 120),
              "signature": _text_error(data.get("signature"), 5000),
              "disclaimer": _text_error(data.get("disclaimer"), 5000),
              "sent_folder": _text_error(data.get("sent_folder"), 255),
              "default_queue_id": _queue_error(tenant, data.get("default_queue_id")), "reply_to": reply_to_message,
              **_inbound_errors(tenant, data, mailbox is None),
              **_outbound_errors(tenant, data, bool(mailbox and mailbox.outbound_password))}
    errors = {field: message for field, message in errors.items() if message}
    if errors:
        raise FieldErrors(errors)
    return {**data, "address": address, "name": data["name"].strip(), "inbound_host": data["inbound_host"].strip()}


def _checked_aliases(tenant: Tenant, addresses: list[str], mailbox_address: str) -> list[str]:
    """All aliases valid and free, before anything is written (so a bad one leaves nothing behind)."""
    normalized = []
    for address in addresses:
        alias, message = check.address_error(address, tenant)
        if alias and (alias == mailbox_address or alias in normalized or address_in_use(tenant, alias, None)):
            message = _("%(address)s is already used by a mailbox.", address=alias)
        if message:
            raise FieldErrors({"aliases": message})
        normalized.append(alias)
    return normalized


def _apply(mailbox: Mailbox, data: dict) -> None:
    for name in SETTINGS:
        if name in SECRET_FIELDS and not data.get(name):
            continue  # an empty secret field means "keep the stored one"
        value = data.get(name)
        if name in TEXT_FIELDS:
            setattr(mailbox, name, (value or "").strip())
            continue
        setattr(mailbox, name, value if value != "" else None)
    if mailbox.inbound_protocol == Protocol.POP3:
        mailbox.folders, mailbox.sync_mode = ["INBOX"], SyncMode.POLL


def create_mailbox(tenant: Tenant, data: dict, aliases: list[str] = ()) -> Mailbox:
    """Validate everything, then create the mailbox with its aliases (routed to its default queue)."""
    data = _validated(tenant, {**DEFAULTS, **data}, None)
    aliases = _checked_aliases(tenant, list(aliases), data["address"])
    mailbox = Mailbox(tenant_id=tenant.id)
    _apply(mailbox, data)
    db.session.add(mailbox)
    db.session.flush()
    for alias in aliases:
        _add_alias(tenant, mailbox, alias, data.get("default_queue_id"))
    record(tenant, "mailbox.created", object_type="mailbox", object_id=mailbox.id, label=mailbox.address,
           changes=diff({}, {k: data.get(k) for k in SETTINGS if data.get(k) not in (None, "")}, SECRET_FIELDS))
    db.session.commit()
    return mailbox


def update_mailbox(mailbox: Mailbox, changes: dict) -> dict:
    """Apply ``changes`` (only the fields given); returns the audited diff. Raises ``FieldErrors``, changing nothing."""
    tenant = db.session.get(Tenant, mailbox.tenant_id)
    before = _current(mailbox)
    data = _validated(tenant, {**before, **changes, "inbound_password": changes.get("inbound_password"),
                               "outbound_password": changes.get("outbound_password"), "id": mailbox.id}, mailbox)
    _apply(mailbox, data)
    after = {**_current(mailbox)}
    for secret in SECRET_FIELDS:  # a newly given secret counts as a change even if equal: the value is unknown
        if changes.get(secret):
            before[secret], after[secret] = "old", "new"
    audited = diff(before, after, SECRET_FIELDS)
    if audited:
        record(tenant, "mailbox.updated", object_type="mailbox", object_id=mailbox.id, label=mailbox.address,
               changes=audited)
    db.session.commit()
    return audited


def set_status(mailbox: Mailbox, status: MailboxStatus, action: str) -> None:
    tenant = db.session.get(Tenant, mailbox.tenant_id)
    if mailbox.status != status:
        record(tenant, action, object_type="mailbox", object_id=mailbox.id, label=mailbox.address,
               changes={"status": [mailbox.status.value, status.value]})
        mailbox.status = status
        if status == MailboxStatus.ACTIVE:
            mailbox.failure_streak = 0
    db.session.commit()


def pause_mailbox(mailbox: Mailbox) -> None:
    set_status(mailbox, MailboxStatus.PAUSED, "mailbox.paused")


def resume_mailbox(mailbox: Mailbox) -> None:
    set_status(mailbox, MailboxStatus.ACTIVE, "mailbox.resumed")


def delete_mailbox(mailbox: Mailbox) -> None:
    """Delete the mailbox; its OAuth grant, if any, is revoked at the provider and forgotten too."""
    from app.oauth.models import OAuthGrant
    from app.oauth.services import retire_grant

    tenant = db.session.get(Tenant, mailbox.tenant_id)
    record(tenant, "mailbox.deleted", object_type="mailbox", object_id=mailbox.id, label=mailbox.address)
    grant = db.session.get(OAuthGrant, mailbox.oauth_grant_id) if mailbox.oauth_grant_id else None
    db.session.delete(mailbox)
    if grant is not None:
        retire_grant(grant)
    db.session.commit()


def _add_alias(tenant: Tenant, mailbox: Mailbox, address: str, queue_id: int | None) -> MailboxAlias:
    normalized, message = check.address_error(address, tenant)
    if normalized and address_in_use(tenant, normalized, None):
        message = _("%(address)s is already used by a mailbox.", address=normalized)
    if message or (message := _queue_error(tenant, queue_id)):
        raise FieldErrors({"aliases": message})
    alias = MailboxAlias(tenant_id=tenant.id, mailbox=mailbox, address=normalized, queue_id=queue_id or None)
    db.session.add(alias)
    db.session.flush()
    return alias


def add_alias(mailbox: Mailbox, address: str, queue_id: int | None) -> MailboxAlias:
    tenant = db.session.get(Tenant, mailbox.tenant_id)
    alias = _add_alias(tenant, mailbox, address, queue_id)
    record(tenant, "mailbox.alias_added", object_type="mailbox", object_id=mailbox.id, label=mailbox.address,
           changes={"alias": [None, alias.address], "queue_id": [None, alias.queue_id]})
    db.session.commit()
    return alias


def route_alias(alias: MailboxAlias, queue_id: int | None) -> None:
    tenant = db.session.get(Tenant, alias.tenant_id)
    if message := _queue_error(tenant, queue_id):
        raise FieldErrors({"queue_id": message})
    record(tenant, "mailbox.alias_routed", object_type="mailbox", object_id=alias.mailbox_id, label=alias.address,
           changes={"queue_id": [alias.queue_id, queue_id or None]})
    alias.queue_id = queue_id or None
    db.session.commit()


def remove_alias(alias: MailboxAlias) -> None:
    tenant = db.session.get(Tenant, alias.tenant_id)
    record(tenant, "mailbox.alias_removed", object_type="mailbox", object_id=alias.mailbox_id, label=alias.address,
           changes={"alias": [alias.address, None]})
    db.session.delete(alias)
    db.session.commit()


def queue_for_address(tenant: Tenant, address: str) -> Queue | None:
    """The queue mail to ``address`` goes to: the alias's own queue, else its mailbox's default."""
    address = address.strip().lower()
    alias = db.session.scalar(MailboxAlias.all(tenant).where(equals_ignoring_case(MailboxAlias.address, address)))
    if alias is not None:
        return alias.queue or alias.mailbox.default_queue
    mailbox = db.session.scalar(Mailbox.all(tenant).where(equals_ignoring_case(Mailbox.address, address)))
    return mailbox.default_queue if mailbox else None

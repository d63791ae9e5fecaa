"""Checks for mailbox settings, shared by the portal form and the API. Each returns a localized message or None."""

from __future__ import annotations

import re
from typing import Any

from cryptography import x509
from flask import current_app
from flask_babel import gettext as _

from app.auth import validation as v
from app.mail.netguard import BlockedAddress, DnsError, check_host
from app.mailboxes.models import AfterFetch, OutboundMode, Protocol, Security, SyncMode
from tenants.models import Tenant

_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")
_IP_LITERAL = re.compile(r"^[0-9a-fA-F:.]+$")
POLL_MIN, POLL_MAX = 10, 86400


def choice_error(value: Any, enum_type) -> str | None:
    return None if value in {m.value for m in enum_type} else _("Choose one of the offered options.")


def port_error(value: Any) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        return _("Enter a port between 1 and 65535.")
    return None


def host_error(host: str) -> str | None:
    """Syntax, then resolution and the private-address guard (again at connect time: DNS can change)."""
    host = (host or "").strip()
    if not host:
        return _("This field is required.")
    if not (_HOSTNAME.match(host) or _IP_LITERAL.match(host)):
        return _("Enter a host name such as imap.example.com.")
    try:
        check_host(host, allow_private=current_app.config["ALLOW_PRIVATE_HOSTS"])
    except DnsError:
        return _("The host name %(host)s could not be found. Check its spelling.", host=host)
    except BlockedAddress as blocked:
        return _("%(host)s points to %(address)s, a private or internal address. Postroom only connects to public "
                 "mail servers.", host=host, address=str(blocked.address))
    return None


def security_error(security: str, tenant: Tenant) -> str | None:
    if message := choice_error(security, Security):
        return message
    if security == Security.NONE and not tenant.allow_plaintext:
        return _("Unencrypted connections are switched off for your organization. Use TLS or STARTTLS.")
    return None


def address_error(address: str, tenant: Tenant) -> tuple[str | None, str | None]:
    """``(normalized, message)``; the domain must be one the tenant allows for mailboxes (when it set a list)."""
    normalized, message = v.normalize_email(address or "")
    if message:
        return None, message
    domain = normalized.rsplit("@", 1)[1]
    allowed = [d.lower() for d in tenant.allowed_mailbox_domains or []]
    if allowed and domain not in allowed:
        return None, _("Mailboxes of %(domain)s are not allowed for your organization.", domain=domain)
    return normalized, None


def ca_error(pem: str | None) -> str | None:
    if not pem or not pem.strip():
        return None
    try:
        x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return _("Paste the CA certificate in PEM format (-----BEGIN CERTIFICATE-----).")
    return None


def folders_error(folders: list[str]) -> str | None:
    if not folders or any(not f.strip() or len(f) > 255 for f in folders):
        return _("Name at least one folder, such as INBOX.")
    return None


def poll_interval_error(value: Any) -> str | None:
    if not isinstance(value, int) or not POLL_MIN <= value <= POLL_MAX:
        return _("Choose an interval between %(min)s and %(max)s seconds.", min=POLL_MIN, max=POLL_MAX)
    return None


def inbound_rules_error(protocol: str, after_fetch: str, sync_mode: str, move_to: str | None) -> dict[str, str]:
    errors = {}
    if protocol == Protocol.POP3 and after_fetch in (AfterFetch.MARK_SEEN, AfterFetch.MOVE):
        errors["after_fetch"] = _("POP3 mailboxes can only keep or delete fetched mail.")
    if protocol == Protocol.POP3 and sync_mode == SyncMode.IDLE:
        errors["sync_mode"] = _("Push (IDLE) needs IMAP. Use polling for POP3.")
    if after_fetch == AfterFetch.MOVE and not (move_to or "").strip():
        errors["move_to_folder"] = _("Name the folder to move fetched mail to.")
    return errors


def outbound_mode_error(mode: str, tenant: Tenant) -> str | None:
    if message := choice_error(mode, OutboundMode):
        return message
    if mode == OutboundMode.RELAY:
        from tenants.regions import get_region

        if not get_region(tenant.region).smtp_relay:
            return _("Your region has no relay. Use your own SMTP server.")
    return None

"""The portal's sections. A section whose feature has not landed yet shows, but is not a link."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request
from flask_babel import lazy_gettext as _l

from tenants.models import Role


@dataclass(frozen=True)
class Section:
    label: object
    endpoint: str
    role: Role = Role.AGENT

    @property
    def available(self) -> bool:
        return self.endpoint in current_app.view_functions

    @property
    def active(self) -> bool:
        return (request.endpoint or "").split(".")[0] == self.endpoint.split(".")[0]


SECTIONS = (
    Section(_l("Inbox"), "inbox.index"),
    Section(_l("Mailboxes"), "mailboxes.index", Role.ADMIN),
    Section(_l("Quarantine"), "quarantine.index", Role.ADMIN),
    Section(_l("Queues"), "queues.index", Role.ADMIN),
    Section(_l("Rules"), "rules.index", Role.ADMIN),
    Section(_l("Templates"), "templates.index", Role.ADMIN),
    Section(_l("Data protection"), "dlp.index", Role.ADMIN),
    Section(_l("Webhooks"), "webhooks.index", Role.ADMIN),
    Section(_l("Health"), "health.index"),
    Section(_l("Alerts"), "alerts.index", Role.ADMIN),
    Section(_l("Message trace"), "trace.index", Role.ADMIN),
    Section(_l("Audit"), "audit.index", Role.ADMIN),
    Section(_l("Members"), "members.index"),
    Section(_l("Settings"), "settings.index"),
)


def sections_for(role: Role | None) -> list[Section]:
    return [s for s in SECTIONS if role is not None and role.at_least(s.role)]


def nav_context() -> dict:
    """Sections for the member's role, and, for admins, the mailboxes that need attention (the banner)."""
    from flask import g

    from app.connections.services import failing_mailboxes
    from app.oauth.expiry import expiring_apps, expiring_grants
    from tenants.resolver import current_role

    role = current_role()
    admin = role is not None and role.at_least(Role.ADMIN)
    return {"nav_sections": sections_for(role), "failing_mailboxes": failing_mailboxes(g.tenant) if admin else [],
            "expiring_grants": expiring_grants(g.tenant) if admin else [],
            "expiring_apps": expiring_apps(g.tenant) if admin else []}

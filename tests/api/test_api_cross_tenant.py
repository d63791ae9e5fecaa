"""Every API route that names an object, called with another tenant's token: the same answer as for an id that
never existed, never a success, and the object is untouched. The route list comes from the app itself, so a new
route cannot slip through without this check."""

from __future__ import annotations

import re

from tests.api.seed import seed_everything

# Path parts that name no tenant object: the same for every tenant.
SHARED_PARAMS = {"event", "locale", "provider", "kind"}
NEVER_EXISTED = {"job_id": "0" * 32}


def _object_routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        if rule.rule.startswith("/api/v1/") and set(rule.arguments) - SHARED_PARAMS:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def _path(rule, ids: dict) -> str:
    return re.sub(r"<(?:[^:>]+:)?(\w+)>", lambda m: str(ids[m.group(1)]), rule.rule)


def _snapshot(client, headers: dict) -> dict:
    """What the victim sees of its own objects."""
    return {path: client.get(f"/api/v1/{path}?per_page=100", headers=headers).json
            for path in ("mailboxes", "queues", "tickets", "rules", "tokens", "invitations", "webhooks",
                         "dlp-rules", "reply-templates", "members", "contacts", "quarantine")}


def test_another_tenants_objects_answer_like_objects_that_never_existed(app, client, db, inbox, api_token, receiver,
                                                                         run_jobs, create_tenant):
    victim = api_token(inbox.tenant)
    seeded = seed_everything(client, victim, inbox, receiver, run_jobs)
    before = _snapshot(client, victim)
    attacker = api_token(create_tenant("attacker"))
    routes = list(_object_routes(app))
    assert len(routes) >= 45
    for rule, method in routes:
        ids = seeded.for_path(rule.rule)
        missing = {**{name: 2_000_000_000 for name in rule.arguments}, **NEVER_EXISTED,
                   **{name: ids[name] for name in rule.arguments & SHARED_PARAMS}}
        theirs = client.open(_path(rule, ids), method=method, json={}, headers=attacker)
        nothing = client.open(_path(rule, missing), method=method, json={}, headers=attacker)
        label = f"{method} {rule.rule}"
        assert theirs.status_code == nothing.status_code, f"{label}: {theirs.status_code} vs {nothing.status_code}"
        assert theirs.status_code in (404, 422), f"{label} answered {theirs.status_code}"
        assert theirs.get_json() is not None and theirs.json.get("status") == theirs.status_code, label
    db.session.expire_all()
    assert _snapshot(client, victim) == before

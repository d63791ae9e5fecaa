"""The inbox's live updates: the list's and the ticket's "changed since" polls (the browser test sees them work)."""

from __future__ import annotations

from tenants.models import Role
from tests.fixtures.inbox import make_mail

BASE = "/t/acme/inbox"


def test_the_list_poll_answers_204_until_a_ticket_changes(client, db, inbox, add_member, login):
    login(add_member(inbox.tenant, Role.AGENT))
    empty = client.get(f"{BASE}/changes?since=")
    assert empty.status_code == 204  # no tickets yet: nothing to announce
    inbox.deliver(make_mail(subject="Printer jam"))
    changed = client.get(f"{BASE}/changes?since=")
    assert changed.status_code == 200 and changed.headers["HX-Trigger"] == "inbox-changed"
    stamp = changed.get_data(as_text=True).split("since=")[1].split('"')[0]
    assert client.get(f"{BASE}/changes?since={stamp}").status_code == 204
    inbox.deliver(make_mail(subject="VPN down"))
    assert client.get(f"{BASE}/changes?since={stamp}").status_code == 200


def test_the_list_poll_is_per_tenant(client, db, inbox, create_tenant, add_member, login):
    other = create_tenant("other")
    login(add_member(other, Role.AGENT))
    inbox.deliver(make_mail(subject="Printer jam"))  # acme's mail: nothing for the other tenant
    assert client.get("/t/other/inbox/changes?since=").status_code == 204
    assert client.get(f"{BASE}/changes?since=").status_code == 404

"""The tenant health page: per mailbox its status, last successful sync and lag, success rate and median latency
over 1 h / 24 h / 7 d (from hourly roll-ups), failure streak and category, mail in and out per hour; per queue the
open tickets and the longest wait; quarantine and outbox; refreshed in place by HTMX."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from app.connections.models import ConnectionKind
from app.connections.services import record_attempt
from app.health.mailbox_stats import median_from_buckets
from app.health.models import MailboxHour
from app.mail.steps import StepResult
from app.outbound.models import OutgoingKind, OutgoingMail
from tenants.models import Role, utcnow
from tests.fixtures.inbox import make_mail
from tests.web.test_quarantine_page import deep_mail

BASE = "/t/acme/health/"


def _attempt(mailbox, *, ok: bool = True, ms: float = 80.0, kind=ConnectionKind.SYNC, category: str = "auth_failed"):
    result = StepResult(step="login", ok=ok, latency_ms=ms, category=None if ok else category)
    return record_attempt(mailbox, kind, "inbound", [result])


def test_attempts_add_up_in_their_hour_and_the_median_comes_from_the_buckets(db, inbox):
    for ms in (40, 90, 90, 700):
        _attempt(inbox.mailbox, ms=ms)
    _attempt(inbox.mailbox, ok=False, ms=3000)
    [hour] = db.session.scalars(select(MailboxHour).where(MailboxHour.mailbox_id == inbox.mailbox.id))
    assert (hour.attempts, hour.ok) == (5, 4)
    assert (hour.lat_0, hour.lat_1, hour.lat_4, hour.lat_6) == (1, 2, 1, 1)
    assert hour.hour == utcnow().replace(minute=0, second=0, microsecond=0)
    assert median_from_buckets([1, 2, 0, 0, 1, 0, 1, 0, 0, 0]) == 87.5  # 2.5th of 5: in the 50-100 ms bucket
    assert median_from_buckets([0] * 10) is None
    assert median_from_buckets([0] * 9 + [3]) == 30000.0  # slower than the last bound: reported as that bound


def test_health_page_shows_each_mailbox_queue_outbox_and_quarantine(client, db, inbox, login, run_jobs):
    login(inbox.tenant.owner)
    _attempt(inbox.mailbox, ms=120)
    inbox.mailbox.last_synced_at = utcnow() - timedelta(minutes=5)
    db.session.add(MailboxHour(tenant_id=inbox.tenant.id, mailbox_id=inbox.mailbox.id,
                               hour=(utcnow() - timedelta(days=3)).replace(minute=0, second=0, microsecond=0),
                               attempts=3, ok=0, lat_9=3))  # three days ago: in the week, not in the day
    db.session.commit()
    for _ in range(2):
        _attempt(inbox.mailbox, ok=False, ms=20)
    inbox.deliver(make_mail(subject="One", sender="ann@client.test"))
    inbox.deliver(make_mail(subject="Two", sender="bob@client.test"))
    inbox.deliver(deep_mail())
    run_jobs(kinds=("deliver",))  # the acknowledgements: queued, and retried (nothing listens on port 9)
    db.session.add(OutgoingMail(tenant_id=inbox.tenant.id, mailbox_id=None, kind=OutgoingKind.SYSTEM,
                                rfc_message_id="<alert@postroom.test>", mail_from="desk@postroom.test",
                                recipients=["owner@acme.test"], raw=b"x"))  # system mail: from no mailbox
    db.session.commit()

    page = client.get(BASE)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    row = re.search(r'<tr id="health-mailbox-\d+".*?</tr>', html, re.S).group(0)
    assert 'data-status="active"' in row and "support@acme.test" in row
    assert f'href="/t/acme/mailboxes/{inbox.mailbox.id}"' in row
    rates = re.search(r'class="success-rates">(.*?)</td>', row, re.S).group(1)
    assert re.findall(r">(\d+ %|—)<", rates) == ["33 %", "33 %", "17 %"]  # 1 of 3; 1 of 3; 1 of 6 with the week
    assert "5 minutes ago" in row
    assert re.search(r'class="failure-streak">2 <code class="failure-category">auth_failed</code>', row)
    assert re.search(r'<title>Received: 3 in 24 h</title>', row) and re.search(r"<title>Sent: 2 in 24 h</title>", row)
    assert re.search(r'<td class="queue-open">2</td>', html)
    assert re.search(r'id="outbox-retrying">2<', html) and re.search(r'id="quarantine-size"[^>]*>1 message held', html)
    assert 'hx-trigger="every 15s"' in html


def test_htmx_refresh_gets_the_panel_alone_and_agents_are_kept_out(client, db, inbox, login, add_member):
    login(inbox.tenant.owner)
    panel = client.get(BASE, headers={"HX-Request": "true", "HX-Target": "health-panel"})
    assert panel.status_code == 200
    body = panel.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="health-panel"') and "<html" not in body
    agent = add_member(inbox.tenant, Role.AGENT)
    client.post("/logout")
    login(agent)
    assert client.get(BASE).status_code == 403

"""The quarantine page: held mail listed with its reason, filters, details, the original, replay and accept."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.inbound.models import Receipt
from tenants.models import Role
from tests.fixtures.inbox import Inbox, make_mail

BASE = "/t/acme/quarantine"


def deep_mail(subject: str = "deep", depth: int = 40) -> bytes:
    """A multipart nested deeper than the parser allows: quarantined as ``too_deep``."""
    lines = ["From: Ann <ann@client.test>", "To: support@acme.test", f"Subject: {subject}",
             "Message-ID: <deep@client.test>", "Content-Type: multipart/mixed; boundary=b0", ""]
    for i in range(1, depth):
        lines += [f"--b{i - 1}", f"Content-Type: multipart/mixed; boundary=b{i}", ""]
    lines += [f"--b{depth - 1}", "Content-Type: text/plain", "", "leaf"]
    lines += [f"--b{i}--" for i in reversed(range(depth))]
    return "\r\n".join([*lines, ""]).encode()


def _queued_ingest_jobs(tenant) -> list:
    from tenants.queues import region_queue
    from tenants.regions import get_region

    return region_queue(get_region(tenant.region), "ingest").get_jobs()


def _status(db, receipt) -> str:
    db.session.refresh(receipt)
    return receipt.status


@pytest.fixture
def admin(inbox: Inbox, login):
    login(inbox.tenant.owner)
    return inbox.tenant.owner


def test_held_mail_is_listed_newest_first_with_its_localized_reason(client, db, inbox, admin):
    deep = inbox.deliver(deep_mail())
    garbage = inbox.deliver(b" not a message\r\n")
    assert (deep.quarantine_reason, garbage.quarantine_reason) == ("too_deep", "not_a_message")
    html = client.get(f"{BASE}/").get_data(as_text=True)
    assert "The message&#39;s MIME parts are nested too deeply." in html
    assert "The data does not look like an e-mail message." in html
    assert "support@acme.test" in html and "starts with a continuation line" in html
    assert html.index(f'id="held-{garbage.id}"') < html.index(f'id="held-{deep.id}"')  # newest first


def test_an_unknown_reason_code_is_shown_as_it_is(client, db, inbox, admin):
    receipt = inbox.deliver(deep_mail())
    receipt.quarantine_reason = "brand_new_reason"
    db.session.commit()
    assert "brand_new_reason" in client.get(f"{BASE}/").get_data(as_text=True)


def test_filters_by_reason_and_mailbox(client, db, inbox, admin, new_mailbox):
    sales = new_mailbox(inbox.tenant, "sales@acme.test")
    deep = inbox.deliver(deep_mail())
    garbage = inbox.deliver(b" not a message\r\n", mailbox=sales)
    by_reason = client.get(f"{BASE}/?reason=too_deep").get_data(as_text=True)
    assert f'id="held-{deep.id}"' in by_reason and f'id="held-{garbage.id}"' not in by_reason
    by_mailbox = client.get(f"{BASE}/?mailbox={sales.id}").get_data(as_text=True)
    assert f'id="held-{garbage.id}"' in by_mailbox and f'id="held-{deep.id}"' not in by_mailbox
    assert "No quarantined mail matches" in client.get(f"{BASE}/?reason=too_large").get_data(as_text=True)


def test_pages_hold_fifty_and_link_to_older(client, db, inbox, admin, monkeypatch):
    from app.quarantine import services

    monkeypatch.setattr(services, "PER_PAGE", 2)
    ids = [inbox.deliver(deep_mail(subject=f"deep {n}")).id for n in range(3)]
    first = client.get(f"{BASE}/?reason=too_deep").get_data(as_text=True)
    assert f'id="held-{ids[0]}"' not in first and "page=2" in first and "reason=too_deep" in first
    second = client.get(f"{BASE}/?reason=too_deep&page=2").get_data(as_text=True)
    assert f'id="held-{ids[0]}"' in second


def test_details_show_the_key_headers_as_text_never_as_html(client, db, inbox, admin):
    receipt = inbox.deliver(deep_mail(subject="<script>alert(1)</script> =?utf-8?q?Gr=C3=BC=C3=9Fe?="))
    html = client.get(f"{BASE}/{receipt.id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Grüße" in html and "<script>alert" not in html
    for value in ("Ann &lt;ann@client.test&gt;", "support@acme.test", "&lt;deep@client.test&gt;"):
        assert value in html
    assert f"{BASE}/{receipt.id}/original.eml" in html
    partial = client.get(f"{BASE}/{receipt.id}", headers={"HX-Request": "true", "HX-Target": "quarantine-detail"})
    body = partial.get_data(as_text=True)
    assert "<html" not in body and f'id="held-detail-{receipt.id}"' in body
    assert "HX-Request" in partial.headers["Vary"]


def test_the_original_downloads_byte_for_byte_as_an_attachment(client, db, inbox, admin):
    raw = deep_mail(subject="<b>not html</b>")
    receipt = inbox.deliver(raw)
    response = client.get(f"{BASE}/{receipt.id}/original.eml")
    assert response.status_code == 200 and response.get_data() == raw
    assert response.mimetype == "message/rfc822"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert ".eml" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_replay_puts_the_mail_back_into_processing_and_queues_it(client, db, inbox, admin, run_jobs):
    receipt = inbox.deliver(deep_mail())
    response = client.post(f"{BASE}/{receipt.id}/replay", data={}, follow_redirects=True)
    assert "1 message was put back into processing." in response.get_data(as_text=True)
    assert _status(db, receipt) == "stored" and len(_queued_ingest_jobs(inbox.tenant)) == 1
    run_jobs()  # still too deep: held again, with its reason
    assert _status(db, receipt) == "quarantined" and receipt.quarantine_reason == "too_deep"
    again = client.post(f"{BASE}/{receipt.id}/replay", data={"csrf_token": "forged"})
    assert again.status_code == 400 and _status(db, receipt) == "quarantined"


def test_replay_selected_replays_only_the_checked_ones(client, db, inbox, admin):
    first, second, third = (inbox.deliver(deep_mail(subject=f"deep {n}")) for n in range(3))
    response = client.post(f"{BASE}/replay?reason=too_deep", data={"ids": [str(first.id), str(third.id)]})
    assert response.status_code == 302 and response.headers["Location"].endswith("/quarantine/?reason=too_deep")
    assert [_status(db, r) for r in (first, second, third)] == ["stored", "quarantined", "stored"]
    nothing = client.post(f"{BASE}/replay", data={}, follow_redirects=True).get_data(as_text=True)
    assert "Select the messages to replay first." in nothing


def test_replay_all_with_a_reason_leaves_other_reasons_alone(client, db, inbox, admin):
    deep = [inbox.deliver(deep_mail(subject=f"deep {n}")) for n in range(2)]
    garbage = inbox.deliver(b" not a message\r\n")
    page = client.get(f"{BASE}/").get_data(as_text=True)
    assert "Replay all with this reason" in page
    response = client.post(f"{BASE}/replay-reason", data={"reason": "too_deep"}, follow_redirects=True)
    assert "2 messages were put back into processing." in response.get_data(as_text=True)
    assert [_status(db, r) for r in deep] == ["stored", "stored"] and _status(db, garbage) == "quarantined"
    assert client.post(f"{BASE}/replay-reason", data={"reason": ""}).status_code == 302
    assert _status(db, garbage) == "quarantined"  # an empty reason is not "everything"


def test_dmarc_failed_mail_is_accepted_after_a_confirmation(client, db, inbox, admin, run_jobs):
    inbox.tenant.trusted_authserv_ids = ["mx.acme.test"]
    inbox.tenant.dmarc_policy = "quarantine"
    db.session.commit()
    failed = {"Authentication-Results": "mx.acme.test; dmarc=fail"}
    receipt = inbox.deliver(make_mail(subject="Invoice", headers=failed))
    assert receipt.quarantine_reason == "dmarc_failed"
    assert f"{BASE}/{receipt.id}/accept" in client.get(f"{BASE}/").get_data(as_text=True)
    confirm = client.get(f"{BASE}/{receipt.id}/accept").get_data(as_text=True)
    assert "Accept this message anyway?" in confirm and "Invoice" in confirm and _status(db, receipt) == "quarantined"
    response = client.post(f"{BASE}/{receipt.id}/accept", data={}, follow_redirects=True)
    assert "despite the sender policy" in response.get_data(as_text=True)
    run_jobs()
    assert _status(db, receipt) == "ingested" and inbox.message_of(receipt).sender_flagged
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "quarantine.accepted"))
    assert event.object_id == receipt.id and event.actor == admin.email


def test_broken_mail_cannot_be_accepted_only_replayed(client, db, inbox, admin):
    receipt = inbox.deliver(deep_mail())
    assert f"{BASE}/{receipt.id}/accept" not in client.get(f"{BASE}/").get_data(as_text=True)
    response = client.post(f"{BASE}/{receipt.id}/accept", data={}, follow_redirects=True)
    assert "Only mail held by a sender policy can be accepted" in response.get_data(as_text=True)
    assert _status(db, receipt) == "quarantined"


def test_mail_no_longer_held_is_404(client, db, inbox, admin):
    receipt = inbox.deliver(make_mail())
    assert receipt.status == "ingested"
    for path in (f"{BASE}/{receipt.id}", f"{BASE}/{receipt.id}/original.eml", f"{BASE}/{receipt.id}/accept"):
        assert client.get(path).status_code == 404, path


def test_agents_are_refused_every_quarantine_page(client, db, inbox, add_member, login):
    receipt = inbox.deliver(deep_mail())
    login(add_member(inbox.tenant, Role.AGENT))
    for path in (f"{BASE}/", f"{BASE}/{receipt.id}", f"{BASE}/{receipt.id}/original.eml",
                 f"{BASE}/{receipt.id}/accept"):
        assert client.get(path).status_code == 403, path
    for path in (f"{BASE}/{receipt.id}/replay", f"{BASE}/{receipt.id}/accept", f"{BASE}/replay",
                 f"{BASE}/replay-reason"):
        assert client.post(path, data={"ids": [str(receipt.id)], "reason": "too_deep"}).status_code == 403, path
    assert _status(db, receipt) == "quarantined"
    dashboard = client.get("/t/acme/").get_data(as_text=True)
    assert 'id="quarantine-stat"' not in dashboard and f"{BASE}/" not in dashboard


def test_another_tenants_held_mail_is_404(client, db, inbox, create_tenant, login):
    receipt = inbox.deliver(deep_mail())
    login(create_tenant("rival").owner)
    rival = "/t/rival/quarantine"
    for path in (f"{rival}/{receipt.id}", f"{rival}/{receipt.id}/original.eml", f"{rival}/{receipt.id}/accept"):
        assert client.get(path).status_code == 404, path
    for path in (f"{rival}/{receipt.id}/replay", f"{rival}/{receipt.id}/accept"):
        assert client.post(path, data={}).status_code == 404, path
    client.post(f"{rival}/replay", data={"ids": [str(receipt.id)]})
    client.post(f"{rival}/replay-reason", data={"reason": "too_deep"})
    assert _status(db, receipt) == "quarantined"
    assert "deep" not in client.get(f"{rival}/").get_data(as_text=True)


def test_admins_see_the_count_on_the_dashboard_and_the_section_in_the_nav(client, db, inbox, admin):
    inbox.deliver(deep_mail())
    inbox.deliver(b" not a message\r\n")
    html = client.get("/t/acme/").get_data(as_text=True)
    assert 'id="quarantine-stat"' in html and "2 messages could not become ticket messages." in html
    assert f'href="{BASE}/"' in html


def test_replayed_ids_are_scoped_to_the_tenant(db, inbox, create_tenant):
    from app.quarantine.services import replay_selected

    receipt = inbox.deliver(deep_mail())
    assert replay_selected(create_tenant("rival"), [receipt.id]) == 0
    assert db.session.scalar(select(Receipt.status).where(Receipt.id == receipt.id)) == "quarantined"

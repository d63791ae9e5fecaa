""""Import mail since <date>" on the mailbox page: it starts a backfill, and a refused date is explained next to
the field."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tenants.models import Role


@pytest.fixture
def mailbox_page(inbox, login):
    login(inbox.tenant.owner)
    return f"/t/acme/mailboxes/{inbox.mailbox.id}"


def _backfill_jobs(tenant) -> list:
    from tenants.queues import region_queue
    from tenants.regions import get_region

    region = get_region(tenant.region)
    jobs = [job for kind in ("poll", "default", "ingest") for job in region_queue(region, kind).get_jobs()]
    return [job for job in jobs if "backfill" in job.func_name]


def test_the_mailbox_page_offers_the_import_to_admins(client, db, inbox, mailbox_page):
    html = client.get(mailbox_page).get_data(as_text=True)
    assert 'id="backfill"' in html and 'type="date"' in html and f"{mailbox_page}/backfill" in html


def test_importing_since_a_date_starts_a_backfill(client, db, inbox, mailbox_page):
    since = date.today() - timedelta(days=30)
    response = client.post(f"{mailbox_page}/backfill", data={"since": since.isoformat()})
    assert response.status_code == 302 and response.headers["Location"].endswith(mailbox_page)
    db.session.refresh(inbox.mailbox)
    assert inbox.mailbox.import_since is not None and inbox.mailbox.import_since.date() == since
    assert len(_backfill_jobs(inbox.tenant)) == 1
    assert "Importing mail since" in client.get(mailbox_page).get_data(as_text=True)


@pytest.mark.parametrize("since", [date.today() + timedelta(days=2), date.today() - timedelta(days=11 * 366)])
def test_a_refused_date_is_explained_next_to_the_field(client, db, inbox, mailbox_page, since):
    response = client.post(f"{mailbox_page}/backfill", data={"since": since.isoformat()})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="since-error"' in html and 'aria-invalid="true"' in html
    db.session.refresh(inbox.mailbox)
    assert inbox.mailbox.import_since is None and not _backfill_jobs(inbox.tenant)


def test_a_missing_or_malformed_date_is_refused_by_the_form(client, db, inbox, mailbox_page):
    for value in ("", "yesterday"):
        response = client.post(f"{mailbox_page}/backfill", data={"since": value})
        assert response.status_code == 422 and 'id="since-error"' in response.get_data(as_text=True)
    assert not _backfill_jobs(inbox.tenant)


def test_agents_and_other_tenants_cannot_start_a_backfill(client, db, inbox, add_member, create_tenant, login):
    path = f"/t/acme/mailboxes/{inbox.mailbox.id}/backfill"
    login(add_member(inbox.tenant, Role.AGENT))
    assert client.post(path, data={"since": date.today().isoformat()}).status_code == 403
    login(create_tenant("rival").owner)
    rival_path = f"/t/rival/mailboxes/{inbox.mailbox.id}/backfill"
    assert client.post(rival_path, data={"since": date.today().isoformat()}).status_code == 404
    db.session.refresh(inbox.mailbox)
    assert inbox.mailbox.import_since is None and not _backfill_jobs(inbox.tenant)

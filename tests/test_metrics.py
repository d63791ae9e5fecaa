"""``/metrics``: Prometheus text that prometheus_client's own parser reads, counters that move by exactly what flowed
(mail in, quarantined, mail out, webhooks, refused hooks, requests), an optional bearer token, and one sum over
every process that shares the metrics directory.

Counters are process-wide (and summed over processes), so each test reads them before and after what it does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import PROJECT_ROOT
from tests.fixtures.inbox import make_mail
from tests.web.test_quarantine_page import deep_mail

Samples = dict[tuple[str, frozenset], float]


def scrape(client, headers: dict | None = None) -> Samples:
    from prometheus_client.parser import text_string_to_metric_families

    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.status_code
    samples: Samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_the_scrape_is_prometheus_text_with_every_documented_family(app, client):
    from prometheus_client.parser import text_string_to_metric_families

    client.get("/healthz")
    response = client.get("/metrics")
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"  # not the CSP layer's
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    families = {f.name: f for f in text_string_to_metric_families(response.get_data(as_text=True))}
    assert families["postroom_http_requests"].type == "counter"
    assert families["postroom_http_request_seconds"].type == "histogram"
    queued = {(s.labels["region"], s.labels["queue"]) for s in families["postroom_queue_jobs"].samples
              if s.labels["state"] == "queued"}
    assert queued == {(r, k) for r in ("default", "eu") for k in ("poll", "ingest", "deliver", "webhooks", "default")}
    assert {s.labels["status"] for s in families["postroom_outbox_mails"].samples} == {"queued", "sending"}
    documented = (PROJECT_ROOT / "docs" / "metrics.md").read_text()
    assert all(f"`{name}" in documented for name in families if name.startswith("postroom_")), sorted(families)
    from app.metrics import registry

    defined = [m._name for m in vars(registry).values() if hasattr(m, "_name") and hasattr(m, "labels")]
    assert len(defined) == 11 and all(f"`{name}" in documented for name in defined)


def test_ingest_counts_new_duplicate_and_quarantined_mail(client, db, inbox):
    before = scrape(client)
    inbox.deliver(make_mail(message_id="<once@client.test>"))
    inbox.deliver(make_mail(subject="Another", sender="bob@client.test"))
    inbox.deliver(make_mail(message_id="<once@client.test>"))  # the same mail again: a duplicate
    inbox.deliver(deep_mail())
    inbox.deliver(b" not a message\r\n")
    after = scrape(client)
    assert moved(before, after, "postroom_messages_received_total", region="default") == 2
    assert moved(before, after, "postroom_messages_duplicate_total", region="default") == 1
    assert moved(before, after, "postroom_messages_quarantined_total", region="default", reason="too_deep") == 1
    assert moved(before, after, "postroom_messages_quarantined_total", region="default", reason="not_a_message") == 1
    assert moved(before, after, "postroom_ingest_seconds_count", region="default") == 5  # a batch each
    assert moved(before, after, "postroom_ingest_seconds_sum", region="default") > 0
    assert not any("acme" in str(labels) for _name, labels in after)  # no tenant in any label


def test_a_receipt_given_up_by_the_reconciler_counts_as_quarantined(client, db, inbox):
    from app.inbound.ingest import quarantine

    (receipt,) = inbox.store([make_mail()])
    before = scrape(client)
    assert quarantine(receipt.id, "processing_failed", "stopped its worker 3 times") == "quarantined"
    assert quarantine(receipt.id, "brand_new_reason", "") == "skipped"  # decided already: counted once
    after = scrape(client)
    assert moved(before, after, "postroom_messages_quarantined_total", region="default",
                 reason="processing_failed") == 1


def test_an_acknowledgement_that_cannot_reach_its_server_counts_as_deferred(client, db, inbox, run_jobs):
    before = scrape(client)
    inbox.deliver(make_mail())  # its mailbox sends through 127.0.0.1:9, where nothing listens
    run_jobs(kinds=("deliver",))
    after = scrape(client)
    assert moved(before, after, "postroom_outbound_mail_total", region="default", outcome="deferred") == 1
    assert moved(before, after, "postroom_outbound_mail_total", region="default", outcome="sent") == 0


def test_webhook_attempts_count_by_the_state_they_leave(client, db, create_tenant, receiver):
    from app.webhooks.endpoints import create_endpoint
    from app.webhooks.services import deliver, emit

    tenant = create_tenant(region="eu")
    create_endpoint(tenant, url=receiver.url, events=["ticket.created"])
    first, second = (emit(tenant, "ticket.created", {"n": n})[0].id for n in (1, 2))
    db.session.commit()
    before = scrape(client)
    assert deliver(first) == "delivered"
    receiver.status = 500
    assert deliver(second) == "pending"
    after = scrape(client)
    assert moved(before, after, "postroom_webhook_deliveries_total", region="eu", outcome="delivered") == 1
    assert moved(before, after, "postroom_webhook_deliveries_total", region="eu", outcome="pending") == 1


def test_requests_and_refused_hooks_are_counted_with_bounded_labels(client, db):
    before = scrape(client)
    assert client.post("/hooks/poke/not-a-token").status_code == 404
    assert client.get("/login").status_code == 200
    assert client.get("/no/such/page/12345").status_code == 404
    client.open("/login", method="BREW")  # an unknown method is "other", not a label of its own
    after = scrape(client)
    assert moved(before, after, "postroom_hook_refusals_total", reason="bad_signature") == 1
    assert moved(before, after, "postroom_http_requests_total", method="POST", status_class="4xx",
                 endpoint_group="hooks") == 1
    assert moved(before, after, "postroom_http_requests_total", method="GET", status_class="2xx",
                 endpoint_group="auth") == 1
    assert moved(before, after, "postroom_http_requests_total", method="GET", status_class="4xx",
                 endpoint_group="none") == 1
    assert moved(before, after, "postroom_http_requests_total", method="other", status_class="4xx",
                 endpoint_group="none") == 1  # 405: no route matched
    assert moved(before, after, "postroom_http_request_seconds_count", endpoint_group="auth") == 1
    assert not any("12345" in str(labels) or "BREW" in str(labels) for _name, labels in after)


@pytest.mark.parametrize(("header", "status"), [(None, 401), ("Bearer wrong", 401), ("s3cret-token", 401),
                                                ("Bearer s3cret-token", 200)])
def test_a_metrics_token_is_required_once_set(app, client, monkeypatch, header, status):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "s3cret-token")
    response = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert response.status_code == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer") and b"postroom_" not in response.data


def test_the_scrape_sums_the_values_of_another_process(app, client):
    from app import metrics

    metrics_dir = app.config["METRICS_DIR"]
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == metrics_dir and Path(metrics_dir).is_dir()
    before = scrape(client)
    metrics.observe_sync("eu", "ok", 0.25)  # this process
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    other = subprocess.run(  # a worker: the same module, the directory from POSTROOM_METRICS_DIR as in production
        [sys.executable, "-c", "import os\nfrom app import metrics\n"
         "for _ in range(3): metrics.observe_sync('eu', 'ok', 0.5)\nprint(os.getpid())"],
        env={**env, "POSTROOM_METRICS_DIR": metrics_dir}, cwd=PROJECT_ROOT, capture_output=True, text=True,
        check=True, timeout=60)
    after = scrape(client)
    assert moved(before, after, "postroom_sync_total", region="eu", outcome="ok") == 4
    assert moved(before, after, "postroom_sync_seconds_count", region="eu") == 4
    assert moved(before, after, "postroom_sync_seconds_sum", region="eu") == pytest.approx(1.75)
    assert moved(before, after, "postroom_sync_seconds_bucket", region="eu", le="0.5") == 4

    metrics.process_ended(int(other.stdout.strip()))  # what gunicorn and the worker commands do at exit
    assert moved(before, scrape(client), "postroom_sync_total", region="eu", outcome="ok") == 4  # never backwards


def test_the_metrics_directory_follows_the_instance_unless_set(tmp_path):
    from app.config import load_config

    env = {"POSTROOM_ENV": "development", "POSTROOM_INSTANCE_PATH": str(tmp_path)}
    assert load_config(env)["METRICS_DIR"] == str(tmp_path / "metrics")
    assert load_config({**env, "POSTROOM_METRICS_DIR": "/run/postroom"})["METRICS_DIR"] == "/run/postroom"
    assert load_config(env)["METRICS_TOKEN"] is None


def test_the_grafana_dashboard_queries_only_documented_metrics():
    import json
    import re

    dashboard = json.loads((PROJECT_ROOT / "docs" / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {re.sub(r"_(bucket|sum|count)$", "", name) for expr in exprs for name in re.findall(r"postroom_\w+", expr)}
    documented = (PROJECT_ROOT / "docs" / "metrics.md").read_text()
    assert len(used) >= 10 and all(f"`{name}`" in documented for name in used), used

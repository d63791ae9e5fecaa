from datetime import timedelta

import pytest
from rq import SimpleWorker
from rq.job import JobStatus

from tenants.queues import enqueue
from tenants.regions import RegionError, parse_regions


def test_default_is_one_region():
    regions = parse_regions(None, redis_url="redis://r/0", blob_root="/blobs")
    assert list(regions) == ["default"]
    assert regions["default"].queue_names == ["default:poll", "default:ingest", "default:deliver",
                                              "default:webhooks", "default:default"]
    assert regions["default"].blob_root == "/blobs/default"


def test_regions_from_json_and_file(tmp_path):
    spec = '{"eu": {"redis_url": "redis://eu/0", "smtp_relay": {"host": "relay.eu", "port": 587}}, "us": {}}'
    path = tmp_path / "regions.json"
    path.write_text(spec)
    for source in (spec, str(path)):
        regions = parse_regions(source, redis_url="redis://default/0", blob_root="/b")
        assert regions["eu"].redis_url == "redis://eu/0" and regions["us"].redis_url == "redis://default/0"
        assert regions["eu"].smtp_relay == {"host": "relay.eu", "port": 587}


@pytest.mark.parametrize("spec", ["{not json", "[]", "{}", '{"Bad Name": {}}'])
def test_bad_region_specs_are_refused(spec):
    with pytest.raises(RegionError):
        parse_regions(spec, redis_url="redis://r/0", blob_root="/b")


def test_jobs_go_to_the_tenants_region_and_only_its_workers_run_them(app, db, create_tenant):
    from app.members.services import invite
    from tenants.models import Role, utcnow
    from tenants.regions import get_region
    from worker.cli import AppJob, build_worker

    tenant = create_tenant("euro", region="eu")
    invitation, _link = invite(tenant, email="late@euro.test", role="agent", inviter_role=Role.OWNER,
                               invited_by_id=None)
    invitation.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()

    job = enqueue(tenant, "worker.jobs.housekeeping.expire_invitations", tenant.id)
    assert job.origin == "eu:default" and job.meta["tenant_id"] == tenant.id

    other = build_worker(get_region("default"), ["default"], worker_class=SimpleWorker)
    assert [q.name for q in other.queues] == ["default:default"]
    other.work(burst=True)
    assert job.get_status(refresh=True) == JobStatus.QUEUED  # the default region's worker left it alone

    eu_worker = build_worker(get_region("eu"), ["default"], worker_class=SimpleWorker)
    assert eu_worker.job_class is AppJob
    eu_worker.work(burst=True)
    assert job.get_status(refresh=True) == JobStatus.FINISHED and job.return_value() == 1
    db.session.refresh(invitation)
    assert invitation.revoked_at is not None


def test_region_fan_out_enqueues_only_that_regions_tenants(app, db, create_tenant):
    from rq import Queue

    from tenants.queues import region_redis
    from tenants.regions import get_region
    from worker.jobs.housekeeping import expire_invitations_in_region

    eu = create_tenant("eu-one", region="eu")
    create_tenant("home-one", region="default")
    assert expire_invitations_in_region("eu") == 1
    queue = Queue("eu:default", connection=region_redis(get_region("eu")))
    assert [j.meta["tenant_id"] for j in queue.get_jobs()] == [eu.id]
    assert Queue("default:default", connection=region_redis(get_region("default"))).count == 0


def test_scheduler_registers_the_schedule_on_region_queues(app):
    from tenants.regions import get_region
    from worker.schedule import SCHEDULE, build_scheduler

    with app.app_context():
        scheduler = build_scheduler(get_region("eu"))
    jobs = scheduler.get_jobs()
    assert len(jobs) == len(SCHEDULE)
    assert {j.queue_name for j in jobs} == {"eu:default", "eu:poll", "eu:ingest", "eu:deliver", "eu:webhooks"}
    assert all(j.args == ("eu",) for j in jobs)

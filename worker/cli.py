"""``flask worker``, ``flask scheduler`` and ``flask idle``: registered through the ``flask.commands`` entry point."""

from __future__ import annotations

import os

import click
from flask import current_app
from flask.cli import with_appcontext
from rq import SimpleWorker, Worker
from rq.job import Job
from rq.worker import BaseWorker

from app.metrics import process_lifetime
from tenants.queues import region_queue, region_redis
from tenants.regions import QUEUE_KINDS, Region, RegionError, all_regions, get_region


class AppJob(Job):
    """Runs each job inside a fresh app context (the forked work horse inherits the app, not its context)."""

    app = None

    def perform(self):
        with self.app.app_context():
            return super().perform()


class AppWorker(Worker):
    """``--fork``: each job in a forked work horse, so a job's crash or memory stays its own. Each horse starts cold
    (new database connections, empty statement caches): measured ~250 ms of CPU a job on the ingest benchmark."""

    def main_work_horse(self, job, queue):
        # A forked child must not reuse the parent's database connections.
        from app.extensions import db

        with AppJob.app.app_context():
            db.engine.dispose(close=False)
        return super().main_work_horse(job, queue)


class AppSimpleWorker(SimpleWorker):
    """The default: jobs run in the worker process, which keeps its database connections and SQLAlchemy's compiled
    statements warm between jobs. A job killed with its worker is recovered by the reconciler (the database, not
    RQ, says what is unfinished); a job's time limit still holds (SIGALRM in the worker)."""


_JOB_IMPLEMENTATIONS = ("app.inbound.ingest", "app.inbound.services", "app.outbound.delivery",
                        "app.outbound.inbound_notices", "app.outbound.reconcile", "app.connections.services")


def _preload() -> None:
    """A work horse is forked per job and inherits what its worker loaded: load it once here, or every job pays
    again for importing the jobs and configuring the mappers (~50 ms a job, more than a one-receipt ingest)."""
    import importlib
    import pkgutil

    from sqlalchemy.orm import configure_mappers

    import worker.jobs

    for module in pkgutil.iter_modules(worker.jobs.__path__):
        importlib.import_module(f"worker.jobs.{module.name}")
    for name in _JOB_IMPLEMENTATIONS:  # imported inside the jobs (no app at import time): load them now too
        importlib.import_module(name)
    configure_mappers()


def build_worker(region: Region, kinds: list[str], worker_class: type[BaseWorker] = AppSimpleWorker) -> BaseWorker:
    """A worker bound to the current app that consumes only ``region``'s queues of the given kinds."""
    AppJob.app = current_app._get_current_object()
    _preload()
    return worker_class([region_queue(region, k) for k in kinds], connection=region_redis(region),
                        job_class=AppJob, name=f"postroom-{region.name}-{os.getpid()}-{os.urandom(3).hex()}")


def _region(name: str | None) -> Region:
    try:
        return get_region(name) if name else next(iter(all_regions().values()))
    except RegionError as error:
        raise click.ClickException(str(error)) from None


@click.command("worker")
@click.option("--region", default=None, help="Consume only this region's queues (default: the first region).")
@click.option("--queues", default=None, help="Comma-separated queue kinds, e.g. poll,ingest (default: all).")
@click.option("--burst", is_flag=True, help="Drain the queues, then exit.")
@click.option("--fork", is_flag=True, help="Run each job in a forked work horse (isolated, but cold: slower).")
@with_appcontext
def worker_command(region: str | None, queues: str | None, burst: bool, fork: bool) -> None:
    """Run an RQ worker for one region."""
    selected = _region(region)
    kinds = [k.strip() for k in queues.split(",")] if queues else list(QUEUE_KINDS)
    unknown = [k for k in kinds if k not in QUEUE_KINDS]
    if unknown:
        raise click.ClickException(f"unknown queue kind(s) {', '.join(unknown)}; known: {', '.join(QUEUE_KINDS)}")
    worker = build_worker(selected, kinds, AppWorker if fork else AppSimpleWorker)
    with process_lifetime():
        worker.work(burst=burst, with_scheduler=True)


@click.command("scheduler")
@click.option("--region", default=None, help="Schedule this region's periodic jobs (default: the first region).")
@with_appcontext
def scheduler_command(region: str | None) -> None:
    """Enqueue periodic jobs (polls, token rotation, retries, retention) on one region's queues."""
    from worker.schedule import build_scheduler

    with process_lifetime():
        build_scheduler(_region(region)).start()


@click.command("idle")
@click.option("--region", default=None, help="Hold this region's IMAP IDLE connections (default: the first region).")
@with_appcontext
def idle_command(region: str | None) -> None:
    """IMAP IDLE supervisor: hold push connections, enqueue syncs. SIGTERM or Ctrl-C stops it."""
    from worker.idle import IdleSupervisor, install_signal_handlers

    supervisor = IdleSupervisor(current_app._get_current_object(), _region(region).name)
    install_signal_handlers(supervisor)
    with process_lifetime():
        supervisor.run()

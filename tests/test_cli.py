from sqlalchemy import select

from app.tokens.models import ApiToken
from tenants.models import Membership, Role, Tenant


def test_tenants_create_reads_password_from_stdin(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["tenants", "create", "acme", "--name", "Acme", "--region", "eu", "--locale", "de",
                                 "--admin-email", "boss@acme.test"], input="a fine long password\n")
    assert result.exit_code == 0, result.output
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == "acme"))
    assert (tenant.region, tenant.default_locale) == ("eu", "de")
    membership = db.session.scalar(select(Membership).where(Membership.tenant_id == tenant.id))
    assert membership.role is Role.OWNER and membership.user.check_password("a fine long password")


def test_tenants_create_errors_are_one_line_and_non_zero(app, db, create_tenant):
    create_tenant("taken")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["tenants", "create", "taken", "--name", "X", "--admin-email", "x@x.test"],
                           input="short\n")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "slug: This address is already taken." in lines[0] and "password:" in lines[0]


def test_tokens_create_prints_the_token_alone_on_the_last_line(app, db, create_tenant):
    tenant = create_tenant("acme")
    result = app.test_cli_runner().invoke(args=["tokens", "create", "acme", "--name", "deploy"])
    assert result.exit_code == 0
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("prt_") and " " not in token
    assert db.session.scalar(select(ApiToken.name).where(ApiToken.tenant_id == tenant.id)) == "deploy"


def test_tokens_create_for_unknown_tenant_fails(app, db):
    result = app.test_cli_runner().invoke(args=["tokens", "create", "ghost"])
    assert result.exit_code == 1 and "no tenant with slug 'ghost'" in result.output


def flask_cli(app):
    """The ``flask`` command as operators run it: plugin commands (worker, scheduler) come from entry points."""
    from flask.cli import FlaskGroup

    return FlaskGroup(create_app=lambda: app)


def test_worker_refuses_unknown_region_and_queue_kind(app):
    runner = app.test_cli_runner()
    result = runner.invoke(flask_cli(app), ["worker", "--region", "mars", "--burst"])
    assert result.exit_code == 1 and "unknown region 'mars'" in result.output
    result = runner.invoke(flask_cli(app), ["worker", "--queues", "poll,bogus", "--burst"])
    assert result.exit_code == 1 and "unknown queue kind(s) bogus" in result.output


def test_worker_burst_drains_its_region(app, db, create_tenant):
    from rq import Queue

    from tenants.queues import enqueue, region_redis
    from tenants.regions import get_region

    tenant = create_tenant("acme", region="eu")
    enqueue(tenant, "worker.jobs.housekeeping.expire_invitations", tenant.id)
    result = app.test_cli_runner().invoke(flask_cli(app), ["worker", "--region", "eu", "--queues", "default",
                                                           "--burst"])
    assert result.exit_code == 0, result.output
    assert Queue("eu:default", connection=region_redis(get_region("eu"))).count == 0


def test_tenants_list_is_tab_separated(app, db, create_tenant):
    create_tenant("zeta", region="eu")
    create_tenant("alpha")
    result = app.test_cli_runner().invoke(args=["tenants", "list"])
    assert result.output.splitlines() == ["alpha\tdefault\tAlpha", "zeta\teu\tZeta"]

"""Admin commands: ``flask --app wsgi tenants create`` and ``flask --app wsgi tokens create``."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from app.errors import FieldErrors

tenants_cli = AppGroup("tenants", help="Manage tenants.")
tokens_cli = AppGroup("tokens", help="Manage API tokens.")
keys_cli = AppGroup("keys", help="Manage the encryption keys of stored secrets.")
operators_cli = AppGroup("operators", help="Grant or revoke the platform operator role.")


def _fail(error: FieldErrors) -> click.ClickException:
    return click.ClickException("; ".join(f"{field}: {message}" for field, message in error.errors.items()))


@tenants_cli.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name of the tenant.")
@click.option("--region", default=None, help="Region to pin the tenant to (default: the first region).")
@click.option("--locale", default="en", show_default=True)
@click.option("--timezone", default="UTC", show_default=True)
@click.option("--admin-email", required=True, help="E-mail of the owner; the password is read from stdin.")
@click.option("--admin-name", default=None, help="Owner's name (default: the e-mail's local part).")
def create_tenant(slug: str, name: str, region: str | None, locale: str, timezone: str, admin_email: str,
                  admin_name: str | None) -> None:
    """Create tenant SLUG and its owner."""
    from app.auth.services import sign_up

    password = sys.stdin.readline().rstrip("\r\n")
    try:
        tenant, user = sign_up(tenant_name=name, slug=slug, name=admin_name or admin_email.split("@")[0],
                               email=admin_email, password=password, locale=locale, timezone=timezone, region=region)
    except FieldErrors as error:
        raise _fail(error) from None
    click.echo(f"created tenant {tenant.slug} in region {tenant.region} with owner {user.email}")


@tenants_cli.command("list")
def list_tenants() -> None:
    """List tenants: slug, region and name, tab-separated."""
    from sqlalchemy import select

    from app.extensions import db
    from tenants.models import Tenant

    for tenant in db.session.scalars(select(Tenant).order_by(Tenant.slug)):
        click.echo(f"{tenant.slug}\t{tenant.region}\t{tenant.name}")


@tokens_cli.command("create")
@click.argument("slug")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
def create_api_token(slug: str, name: str) -> None:
    """Create an API token for tenant SLUG; the token is printed alone on the last line."""
    from app.tokens.services import create_token
    from tenants.resolver import tenant_by_slug

    tenant = tenant_by_slug(slug)
    if tenant is None:
        raise click.ClickException(f"no tenant with slug {slug!r}")
    try:
        _token, plaintext = create_token(tenant, name=name)
    except FieldErrors as error:
        raise _fail(error) from None
    click.echo(f"API token {name!r} for {slug} (shown once):")
    click.echo(plaintext)


@keys_cli.command("rotate")
def rotate_keys() -> None:
    """Re-encrypt every stored secret under the newest key (the first of POSTROOM_ENCRYPTION_KEYS)."""
    from app.crypto import SecretUnreadable, rotate_all

    try:
        count = rotate_all()
    except SecretUnreadable as error:
        raise click.ClickException(
            f"{error}; keep the old key in POSTROOM_ENCRYPTION_KEYS until rotation ran") from None
    click.echo(f"re-encrypted {count} secret(s) under the newest key")


@operators_cli.command("grant")
@click.argument("email")
def grant_operator(email: str) -> None:
    """Make an existing user a platform operator (the /ops/ pages)."""
    _set_operator(email, True)


@operators_cli.command("revoke")
@click.argument("email")
def revoke_operator(email: str) -> None:
    _set_operator(email, False)


def _set_operator(email: str, value: bool) -> None:
    from sqlalchemy import func, select

    from app.auth.models import User
    from app.extensions import db

    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no user with the address {email}")
    user.is_operator = value
    db.session.commit()
    click.echo(f"{user.email} is {'now' if value else 'no longer'} an operator")


def init_cli(app: Flask) -> None:
    app.cli.add_command(operators_cli)
    app.cli.add_command(tenants_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(keys_cli)

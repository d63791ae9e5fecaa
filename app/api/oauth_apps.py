"""The tenant's own OAuth client credentials (their Google Cloud project / Azure app registration), used instead of
Postroom's for new connections and token renewals: the portal's Sign-in apps page, over ``app.oauth.apps``. The
client secret is write-only: answers say ``secret_set``, never the secret."""

from __future__ import annotations

import marshmallow as ma
from flask import abort, g
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint

from app.api.auth import authenticate_token
from app.api.schemas import Strict
from app.errors import FieldErrors
from app.oauth.apps import PROVIDERS, apps, delete_app, save_app
from app.oauth.models import OAuthApp

DIRECTORY_MAX = 100  # the column's length: a longer one would be a database error, not a field error
_DOC = {
    "client_id": {"description": "The client (application) ID of your app registration"},
    "client_secret": {"description": "Write-only. Required when the provider has no app yet; empty or omitted "
                                     "when replacing: the stored secret is kept"},
    "secret_expires_on": {"description": "When the secret expires (optional): Postroom warns two weeks before"},
    "directory": {"description": "Microsoft only: your directory (tenant) ID or domain, or common; empty or "
                                 "omitted: any organization"},
}


class OAuthAppSchema(ma.Schema):
    provider = ma.fields.String(metadata={"enum": list(PROVIDERS)})
    configured = ma.fields.Boolean(metadata={"description": "false: connections use Postroom's own app"})
    client_id = ma.fields.String(allow_none=True, metadata=_DOC["client_id"])
    secret_set = ma.fields.Boolean(metadata={"description": "A client secret is stored (it is never shown)"})
    secret_expires_on = ma.fields.Date(allow_none=True, metadata=_DOC["secret_expires_on"])
    directory = ma.fields.String(allow_none=True, metadata=_DOC["directory"])
    created_at = ma.fields.AwareDateTime(allow_none=True)


class OAuthAppPutSchema(Strict):
    """The whole app: fields omitted are cleared, except the secret, which is kept."""

    client_id = ma.fields.String(load_default="", metadata=_DOC["client_id"])
    client_secret = ma.fields.String(load_default="", load_only=True, metadata=_DOC["client_secret"])
    secret_expires_on = ma.fields.Date(load_default=None, allow_none=True, metadata=_DOC["secret_expires_on"])
    # marshmallow formats the lazy message into a str in the request's language (a msgid the services use too).
    directory = ma.fields.String(load_default=None, allow_none=True, metadata=_DOC["directory"],
                                 validate=ma.validate.Length(max=DIRECTORY_MAX, error=_l(
                                     "Use at most %(max)s characters.", max=DIRECTORY_MAX)))


blp = Blueprint("api_oauth_apps", __name__, url_prefix="/oauth-apps",
                description="The tenant's own OAuth client credentials")
blp.before_request(authenticate_token)

# Unknown providers do not match the route: a 404, and the document lists the providers.
PROVIDER_PATH = f"/<any({', '.join(PROVIDERS)}):provider>"


def _view(provider: str, app: OAuthApp | None) -> dict:
    """What the API shows of a provider's app. ``secret_set`` follows from ``configured``: the service refuses an
    app without a secret, and the stored secret is never read (decrypted) just to answer."""
    if app is None:
        return {"provider": provider, "configured": False, "client_id": None, "secret_set": False,
                "secret_expires_on": None, "directory": None, "created_at": None}
    return {"provider": provider, "configured": True, "client_id": app.client_id, "secret_set": True,
            "secret_expires_on": app.secret_expires_on, "directory": app.directory, "created_at": app.created_at}


@blp.route("", methods=["GET"])
@blp.response(200, OAuthAppSchema(many=True))
def list_oauth_apps():
    """Every provider, configured or not."""
    saved = apps(g.tenant)
    return [_view(provider, saved.get(provider)) for provider in PROVIDERS]


@blp.route(PROVIDER_PATH, methods=["GET"])
@blp.response(200, OAuthAppSchema)
@blp.alt_response(404, response="NOT_FOUND")
def get_oauth_app(provider: str):
    return _view(provider, apps(g.tenant).get(provider))


@blp.route(PROVIDER_PATH, methods=["PUT"])
@blp.arguments(OAuthAppPutSchema)
@blp.response(200, OAuthAppSchema)
@blp.alt_response(201, schema=OAuthAppSchema, description="Created: the provider had no app", success=True)
@blp.alt_response(404, response="NOT_FOUND")
def put_oauth_app(body: dict, provider: str):
    """Create or replace the provider's app. A new client ID disconnects the mailboxes connected through the old
    one (they must be re-connected). Missing fields are 422s at ``#/client_id`` and ``#/client_secret``."""
    if provider != "microsoft" and (body["directory"] or "").strip():
        raise FieldErrors({"directory": _("Only Microsoft apps have a directory (tenant) ID.")})
    existed = provider in apps(g.tenant)
    app = save_app(g.tenant, provider, client_id=body["client_id"], client_secret=body["client_secret"],
                   secret_expires_on=body["secret_expires_on"], directory=body["directory"])
    return _view(provider, app), 200 if existed else 201


@blp.route(PROVIDER_PATH, methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, response="NOT_FOUND")
def delete_oauth_app(provider: str):
    """Back to Postroom's app; mailboxes connected through this one must be re-connected. No app: a 404."""
    app = apps(g.tenant).get(provider)
    if app is None:
        abort(404)
    delete_app(app)

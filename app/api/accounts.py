from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from app.api.schemas import SignupResultSchema, SignupSchema
from app.auth.services import sign_up
from app.extensions import limiter
from app.tokens.services import create_token

blp = Blueprint("api_accounts", __name__, url_prefix="/signup", description="Self-service sign-up")


@blp.route("", methods=["POST"])
@limiter.limit(lambda: current_app.config["SIGNUP_RATE_LIMIT"], scope="signup")
@blp.arguments(SignupSchema)
@blp.response(201, SignupResultSchema)
@blp.doc(security=[])
def signup(body: dict):
    """Create a tenant with its owner, and a first API token for it (shown once)."""
    tenant, user = sign_up(**body)
    _token, plaintext = create_token(tenant, name="sign-up", created_by_id=user.id)
    return {"tenant": tenant, "user": user, "token": plaintext}

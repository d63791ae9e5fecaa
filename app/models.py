"""Imports every model so metadata (migrations, mappers) sees all tables."""

from app.auth.models import User
from app.members.models import Invitation
from app.tokens.models import ApiToken
from tenants.models import Membership, Tenant

__all__ = ["ApiToken", "Invitation", "Membership", "Tenant", "User"]

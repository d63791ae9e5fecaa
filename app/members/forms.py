from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import InputRequired

from tenants.models import Role

_REQUIRED = InputRequired(message=_l("This field is required."))
ROLE_LABELS = {Role.AGENT: _l("Agent"), Role.ADMIN: _l("Admin"), Role.OWNER: _l("Owner")}


def role_choices(max_role: Role) -> list[tuple[str, str]]:
    return [(r.value, str(ROLE_LABELS[r])) for r in Role if r.rank <= max_role.rank]


class InviteForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[_REQUIRED])
    role = SelectField(_l("Role"), default=Role.AGENT.value, validate_choice=False)


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), validate_choice=False)


class AcceptInvitationForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[_REQUIRED])
    password = PasswordField(_l("Password"), validators=[_REQUIRED],
                             description=_l("At least 10 characters; avoid common passwords."))


class ConfirmForm(FlaskForm):
    """A button-only form: carries the CSRF token."""

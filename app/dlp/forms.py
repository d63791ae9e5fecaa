from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField

# What each kind and action is called on the page (the stored values are the service's).
KIND_LABELS = {"card_number": _l("Card numbers"), "iban": _l("IBANs"),
               "password": _l("Passwords (\"password:\", \"Passwort:\", \"mot de passe :\", \"PIN=\" …)"),
               "regex": _l("A custom regular expression")}
ACTION_LABELS = {"block": _l("Block the mail"), "redact": _l("Redact what it finds, then send")}


class DlpRuleForm(FlaskForm):
    """Choices are not checked here: the service answers a bad choice with a field message."""

    name = StringField(_l("Name"), description=_l("Shown to agents when the rule stops a mail, e.g. \"Card numbers\"."))
    kind = SelectField(_l("Look for"), validate_choice=False)
    pattern = StringField(
        _l("Pattern"),
        description=_l("Only for a custom regular expression; upper and lower case are the same. "
                       "Example: ACME-\\d{6}"))
    action = SelectField(_l("When found"), validate_choice=False)
    enabled = BooleanField(_l("Enabled"), default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = tuple((value, str(label)) for value, label in KIND_LABELS.items())
        self.action.choices = tuple((value, str(label)) for value, label in ACTION_LABELS.items())

    def values(self) -> dict:
        return {"name": self.name.data or "", "kind": self.kind.data or "", "pattern": self.pattern.data or "",
                "action": self.action.data or "", "enabled": self.enabled.data}


class TrialForm(FlaskForm):
    subject = StringField(_l("Subject"))
    text = TextAreaField(_l("Text"), render_kw={"rows": 6})

"""The alert rules form: one row per kind, a switch and a threshold (empty: the default). Ranges are the service's
to check: it answers with a message per field (``<kind>_threshold``)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField
from wtforms.validators import Optional

from app.alerts.describe import KIND_LABELS, THRESHOLD_LABELS
from app.alerts.models import KINDS


class RulesForm(FlaskForm):
    @classmethod
    def for_rules(cls, rules) -> RulesForm:
        """Filled from the rules as they apply (``app.alerts.services.rules``), not from the request."""
        data = {}
        for rule in rules:
            data[f"{rule.kind}_enabled"], data[f"{rule.kind}_threshold"] = rule.enabled, rule.own_threshold
        return cls(formdata=None, data=data)

    def values(self) -> dict[str, dict]:
        return {kind: {"enabled": bool(self[f"{kind}_enabled"].data), "threshold": self[f"{kind}_threshold"].data}
                for kind in KINDS}


for _kind in KINDS:
    setattr(RulesForm, f"{_kind}_enabled", BooleanField(KIND_LABELS[_kind]))
    setattr(RulesForm, f"{_kind}_threshold", IntegerField(THRESHOLD_LABELS[_kind], validators=[Optional()]))

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectMultipleField


class SelectionForm(FlaskForm):
    """"Replay selected": the rows' checkboxes join this form through their ``form`` attribute (no script)."""

    ids = SelectMultipleField(coerce=int, validate_choice=False)


class ReasonForm(FlaskForm):
    """"Replay all with this reason"."""

    reason = HiddenField()

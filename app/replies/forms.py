from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField


class ReplyTemplateForm(FlaskForm):
    """No validators here: the service answers with field messages (see ``services.create_template``)."""

    name = StringField(_l("Name"), description=_l("Agents pick templates by name, e.g. \"Password reset\"."))
    body = TextAreaField(_l("Text"), render_kw={"rows": 10},
                         description=_l("Merge fields, written with double braces as listed below, are filled in "
                                        "for the ticket when an agent inserts the template."))

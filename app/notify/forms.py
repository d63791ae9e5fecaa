from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField


class NotificationTemplateForm(FlaskForm):
    """No validators here: the service answers with field messages (see ``services.save_template``)."""

    subject = StringField(_l("Subject"))
    body = TextAreaField(_l("Text"), render_kw={"rows": 16},
                         description=_l("Merge fields are written with double braces, e.g. {{ ticket_reference }}; "
                                        "“if” conditions and the filters listed below are allowed too."))

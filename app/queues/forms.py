from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField


class QueueForm(FlaskForm):
    name = StringField(_l("Name"))
    description = StringField(_l("Description"))

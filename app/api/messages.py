"""marshmallow's built-in messages, marked for translation so API field errors are localized too."""

from flask_babel import lazy_gettext as _l

MARSHMALLOW_MESSAGES = (
    _l("Missing data for required field."),
    _l("Unknown field."),
    _l("Not a valid string."),
    _l("Not a valid integer."),
    _l("Not a valid boolean."),
    _l("Not a valid email address."),
    _l("Not a valid list."),
    _l("Invalid input type."),
    _l("Field may not be null."),
    _l("Invalid value."),
    _l("Not a valid date."),
    _l("Not a valid datetime."),
)

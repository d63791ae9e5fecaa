"""Built-in notification templates, ``(subject, body)`` per event and locale: what a tenant gets until it writes its
own. They are sources in the same template language tenants write, checked by the same sandbox."""

from __future__ import annotations

from app.notify.defaults import de, en, es, fr, ja

BUILTIN: dict[str, dict[str, tuple[str, str]]] = {
    "en": en.TEMPLATES, "de": de.TEMPLATES, "fr": fr.TEMPLATES, "es": es.TEMPLATES, "ja": ja.TEMPLATES}
FALLBACK_LOCALE = "en"


def builtin(event: str, locale: str) -> tuple[str, str]:
    """The built-in subject and body of ``event`` in ``locale``, else in English; ``KeyError`` for an unknown event."""
    return BUILTIN.get(locale, {}).get(event) or BUILTIN[FALLBACK_LOCALE][event]

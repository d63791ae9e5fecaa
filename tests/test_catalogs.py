"""Translation catalogs are complete and match the source code.

These tests need no application: they read the gettext catalogs directly.

If a test here fails after you added or changed a user-facing string, run::

    .venv/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_pgettext:1c,2 \\
        -o app/translations/messages.pot --no-location --sort-output --project Postroom .
    .venv/bin/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching

then translate the new entries in every language below.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "app" / "translations"
POT = TRANSLATIONS / "messages.pot"
LANGUAGES = ["de", "fr", "es", "ja"]
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]")

EXTRACT_ARGS = [
    "extract",
    "-F",
    "babel.cfg",
    "-k",
    "_l",
    "-k",
    "lazy_gettext",
    "-k",
    "lazy_pgettext:1c,2",
    "--no-location",
    "--sort-output",
    "--project",
    "Postroom",
]


def _read(path: Path, locale: str | None = None):
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def _key(message) -> tuple:
    """Identity of a message: its context and msgid (plus msgid_plural)."""
    msgid = message.id if isinstance(message.id, tuple) else (message.id,)
    return (message.context, *msgid)


def _messages(catalog) -> dict:
    return {_key(m): m for m in catalog if m.id}


def _show(keys) -> str:
    lines = []
    for context, *ids in sorted(keys, key=lambda k: (k[0] or "", *k[1:])):
        text = " / ".join(repr(i) for i in ids)
        lines.append(f"  - {text}" + (f" (context {context!r})" if context else ""))
    return "\n".join(lines)


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def test_template_is_up_to_date(tmp_path):
    fresh = tmp_path / "messages.pot"
    result = subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", *EXTRACT_ARGS, "-o", str(fresh), "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"pybabel extract failed:\n{result.stderr}"

    extracted = set(_messages(_read(fresh)))
    committed = set(_messages(_read(POT)))
    missing = extracted - committed
    stale = committed - extracted
    problems = []
    if missing:
        problems.append(f"Strings in the code but missing from messages.pot:\n{_show(missing)}")
    if stale:
        problems.append(f"Strings in messages.pot no longer in the code:\n{_show(stale)}")
    assert not problems, (
        "app/translations/messages.pot is out of date; re-extract, update the catalogs and translate "
        "(see tests/test_catalogs.py).\n" + "\n".join(problems)
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalog_is_complete(lang):
    template = _messages(_read(POT))
    po_path = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
    assert po_path.is_file(), f"{po_path} is missing; create it with pybabel init -l {lang}"
    catalog = _read(po_path, locale=lang)
    translated = _messages(catalog)

    missing = set(template) - set(translated)
    assert not missing, (
        f"{lang}: messages in messages.pot but not in {lang}/messages.po "
        f"(run pybabel update, then translate):\n{_show(missing)}"
    )
    stale = set(translated) - set(template)
    assert not stale, f"{lang}: messages in {lang}/messages.po that are not in messages.pot:\n{_show(stale)}"

    assert not catalog.fuzzy, f"{lang}: the catalog header is marked fuzzy"

    problems = []
    for key in sorted(template, key=lambda k: (k[0] or "", *k[1:])):
        message = translated[key]
        label = repr(key[1])
        if message.fuzzy:
            problems.append(f"  - {label}: marked fuzzy")
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        expected_forms = catalog.num_plurals if message.pluralizable else 1
        if len(forms) != expected_forms:
            problems.append(f"  - {label}: {len(forms)} translation forms, expected {expected_forms}")
        if not all(form and form.strip() for form in forms):
            problems.append(f"  - {label}: not translated (all forms must be non-empty)")
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set().union(*(_placeholders(i) for i in ids))
        for index, form in enumerate(forms):
            found = _placeholders(form)
            if found != wanted:
                where = f"msgstr[{index}]" if message.pluralizable else "msgstr"
                problems.append(f"  - {label}: {where} has placeholders {sorted(found)}, msgid has {sorted(wanted)}")
    assert not problems, f"{lang}/messages.po has problems:\n" + "\n".join(problems)

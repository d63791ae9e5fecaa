"""Data-loss prevention: a tenant's rules, kept by admins, and the scan of every outgoing mail against them.

The outbox calls ``scan_outgoing`` before it queues an agent's reply: it sends ``Verdict.text`` (and
``Verdict.subject``) instead of what the agent wrote, and sends nothing while ``Verdict.blocked``, showing the agent
``describe_block(verdict)``. Detection itself is in ``app.dlp.detect``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import regex
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select

from app.audit.services import diff, record
from app.auth import validation as v
from app.dlp import detect
from app.dlp.models import ACTIONS, KINDS, DlpRule
from app.errors import FieldErrors
from app.extensions import db
from app.sql import equals_ignoring_case
from tenants.models import Tenant

NAME_MAX = 120
PATTERN_MAX = 500
REDACTED = "[redacted]"
EDITABLE = ("name", "kind", "pattern", "action", "enabled")
MAX_NAMED = 5  # findings named in the agent's message; more are counted

# One sentence per kind (whole sentences translate better than pieces).
_FOUND = {
    "card_number": _l("Rule “%(rule)s” found a card number (%(excerpt)s)."),
    "iban": _l("Rule “%(rule)s” found an IBAN (%(excerpt)s)."),
    "password": _l("Rule “%(rule)s” found a password (%(excerpt)s)."),
    "regex": _l("Rule “%(rule)s” found text matching its pattern (%(excerpt)s)."),
}


@dataclass(frozen=True)
class Finding:
    rule: str
    kind: str
    action: str
    excerpt: str  # masked (``detect.mask``): never the whole secret
    timed_out: bool = False  # a regex rule that could not finish in time: the mail is blocked, nothing is excerpted


@dataclass(frozen=True)
class Verdict:
    text: str  # every "redact" finding replaced by REDACTED; unchanged when nothing was redacted
    blocked_by: list[Finding]  # the mail must not be sent while this is not empty
    redacted: list[Finding]
    subject: str = ""  # the subject, redacted like the text

    @property
    def blocked(self) -> bool:
        return bool(self.blocked_by)


def rules(tenant: Tenant) -> list[DlpRule]:
    return list(db.session.scalars(DlpRule.all(tenant).order_by(DlpRule.name, DlpRule.id)))


def _enabled_rules(tenant: Tenant) -> list[DlpRule]:
    return list(db.session.scalars(DlpRule.all(tenant).where(DlpRule.enabled.is_(True)).order_by(DlpRule.id)))


def scan_outgoing(tenant: Tenant, text: str, *, subject: str = "") -> Verdict:
    """Apply the tenant's enabled rules to an outgoing mail's text and subject.

    A "redact" rule's findings are replaced by ``REDACTED`` in ``Verdict.text`` and ``Verdict.subject``; a "block"
    rule's findings are listed in ``Verdict.blocked_by`` and left in place. A regex rule that runs out of time
    blocks the mail whatever its action: what it would have found cannot be ruled out. No rules: nothing is done.
    """
    active = _enabled_rules(tenant)
    if not active:
        return Verdict(text=text, blocked_by=[], redacted=[], subject=subject)
    blocked: list[Finding] = []
    redacted: list[Finding] = []
    spans: dict[str, list[tuple[int, int]]] = {"subject": [], "text": []}
    for rule in active:
        for part, value in (("subject", subject), ("text", text)):
            try:
                hits = _hits(rule, value)
            except TimeoutError:
                blocked.append(Finding(rule.name, rule.kind, "block", "", timed_out=True))
                continue
            findings = [Finding(rule.name, rule.kind, rule.action, detect.mask(rule.kind, hit.value)) for hit in hits]
            (blocked if rule.action == "block" else redacted).extend(findings)
            if rule.action == "redact":
                spans[part] += [(hit.start, hit.end) for hit in hits]
    return Verdict(text=_redact(text, spans["text"]), blocked_by=blocked, redacted=redacted,
                   subject=_redact(subject, spans["subject"]))


def _hits(rule: DlpRule, text: str) -> list[detect.Hit]:
    if not text:
        return []
    if rule.kind == "regex":
        return detect.find_custom(rule.pattern or "", text)
    return detect.DETECTORS[rule.kind](text)


def _redact(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each span (overlapping ones merged) replaced by one ``REDACTED``."""
    out, position = [], 0
    for start, end in sorted(spans):
        if start < position:  # overlaps the span just redacted
            position = max(position, end)
            continue
        out += [text[position:start], REDACTED]
        position = end
    return "".join(out) + text[position:]


def describe_block(verdict: Verdict) -> str:
    """The agent's explanation of a blocked mail: which rules blocked it, what they found (masked), and what to
    do. Empty when the verdict does not block."""
    if not verdict.blocked:
        return ""
    unique = list(dict.fromkeys(verdict.blocked_by))
    sentences = [_("This mail was not sent: it contains data that your organisation's data protection rules do "
                   "not allow in outgoing mail.")]
    for finding in unique[:MAX_NAMED]:
        if finding.timed_out:
            sentences.append(_("Rule “%(rule)s” could not check this mail in time.", rule=finding.rule))
        else:
            sentences.append(str(_FOUND[finding.kind]) % {"rule": finding.rule, "excerpt": finding.excerpt})
    if len(unique) > MAX_NAMED:
        sentences.append(ngettext("%(num)s more finding is not listed.", "%(num)s more findings are not listed.",
                                  len(unique) - MAX_NAMED))
    sentences.append(_("Remove this data from the mail, or share it in a safer way, and send again. If a rule is "
                       "wrong, ask an administrator to change it under Data protection."))
    return " ".join(sentences)


def pattern_error(pattern: Any) -> str | None:
    """Why a custom pattern cannot be saved: missing, too long, not valid, matching empty text, or so slow on
    some texts that it would run out of time when mail is sent."""
    if not isinstance(pattern, str) or not pattern.strip():
        return _("This field is required.")
    if len(pattern) > PATTERN_MAX:
        return _("Use at most %(max)s characters.", max=PATTERN_MAX)
    try:
        compiled = detect.compile_custom(pattern)
    except (regex.error, OverflowError, RecursionError) as error:
        # the regex module's own words (English) say where the pattern goes wrong, e.g. "missing ) at position 6"
        return _("This is not a valid regular expression: %(error)s", error=str(error))
    if compiled.fullmatch(""):
        return _("This pattern also matches empty text. Make it match at least one character.")
    try:
        for probe in detect.probe_texts(pattern):
            detect.find_custom(pattern, probe)
    except TimeoutError:
        return _("This pattern takes too long on some texts (it backtracks catastrophically, e.g. a repeated group "
                 "such as (a+)+). Simplify it, for example by removing nested repetition.")
    return None


def _check(key: str, value: Any, kind: Any) -> tuple[Any, str | None]:
    """``(normalized value, error)`` of one field; the pattern belongs to regex rules only."""
    if key == "name":
        if not isinstance(value, str):
            return value, _("This field is required.")
        return value.strip(), v.name_error(value, NAME_MAX)
    if key == "kind":
        return value, None if value in KINDS else _("Choose one of: %(choices)s.", choices=", ".join(KINDS))
    if key == "action":
        return value, None if value in ACTIONS else _("Choose one of: %(choices)s.", choices=", ".join(ACTIONS))
    if key == "pattern":
        return (value, pattern_error(value)) if kind == "regex" else (None, None)
    return bool(value), None  # enabled


def _validated(tenant: Tenant, fields: dict[str, Any], exclude_id: int | None = None) -> dict[str, Any]:
    """The normalized fields; raises ``FieldErrors`` for every bad one, and for a name another rule has."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise TypeError(f"unknown DLP rule fields: {sorted(unknown)}")
    values, errors = {}, {}
    for key, raw in fields.items():
        values[key], error = _check(key, raw, fields.get("kind"))
        if error:
            errors[key] = error
    if "name" not in errors and _name_taken(tenant, values["name"], exclude_id):
        errors["name"] = _("A rule with this name already exists.")
    if errors:
        raise FieldErrors(errors)
    return values


def _name_taken(tenant: Tenant, name: str, exclude_id: int | None) -> bool:
    query = select(DlpRule.id).where(DlpRule.tenant_id == tenant.id, equals_ignoring_case(DlpRule.name, name))
    if exclude_id is not None:
        query = query.where(DlpRule.id != exclude_id)
    return db.session.scalar(query) is not None


def create_rule(tenant: Tenant, *, name: str, kind: str, action: str = "block", pattern: str | None = None,
                enabled: bool = True) -> DlpRule:
    """Add a rule; raises ``FieldErrors`` (name, kind, action, pattern), adding nothing. The pattern is kept for
    kind "regex" only, and refused there when it is not valid or too slow (``pattern_error``)."""
    values = _validated(tenant, {"name": name, "kind": kind, "pattern": pattern, "action": action,
                                 "enabled": enabled})
    rule = DlpRule(tenant_id=tenant.id, **values)
    db.session.add(rule)
    db.session.flush()
    record(tenant, "dlp_rule.created", object_type="dlp_rule", object_id=rule.id, label=rule.name,
           changes=diff({}, values))
    db.session.commit()
    return rule


def update_rule(rule: DlpRule, **changes: Any) -> None:
    """Change any of ``EDITABLE``; fields not given keep their values. Raises ``FieldErrors`` as ``create_rule``
    does, changing nothing."""
    tenant = db.session.get(Tenant, rule.tenant_id)
    before = {key: getattr(rule, key) for key in EDITABLE}
    values = _validated(tenant, {**before, **changes}, exclude_id=rule.id)
    for key, value in values.items():
        setattr(rule, key, value)
    changed = diff(before, values)
    if changed:
        record(tenant, "dlp_rule.updated", object_type="dlp_rule", object_id=rule.id, label=rule.name,
               changes=changed)
    db.session.commit()


def delete_rule(rule: DlpRule) -> None:
    tenant = db.session.get(Tenant, rule.tenant_id)
    record(tenant, "dlp_rule.deleted", object_type="dlp_rule", object_id=rule.id, label=rule.name,
           changes={"kind": [rule.kind, None], "action": [rule.action, None]})
    db.session.delete(rule)
    db.session.commit()

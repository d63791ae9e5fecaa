"""The sandbox tenants' notification templates run in.

Three layers, each enough on its own for what it guards:

1. The template language is cut down to text, merge fields, filters and ``{% if %}``: the parsed template is checked
   node by node against a whitelist, so loops, macros, ``{% set %}``, imports, attribute and item access, calls,
   arithmetic and ``~`` are refused at save time (and again before any stored template runs). Without loops,
   assignments or concatenation, a template's running time and each piece of its output grow with its length and
   its values, never faster.
2. The environment is Jinja's ``ImmutableSandboxedEnvironment`` with no globals, a short list of filters and no
   attribute access at all; names a template does not define are errors (``StrictUndefined``).
3. The values are plain strings and numbers (see ``plain_values``), and the output has a size limit.
"""

from __future__ import annotations

import difflib
import traceback
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel.dates import format_date, format_datetime
from flask_babel import gettext as _
from flask_babel.speaklater import LazyString
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.notify.fields import MERGE_FIELDS

MAX_OUTPUT = 1_000_000  # characters a template may produce: a reply text quoted a thousand times is refused
_ALLOWED_NODES = frozenset({
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.If, nodes.Name, nodes.Const, nodes.Filter, nodes.Test,
    nodes.CondExpr, nodes.And, nodes.Or, nodes.Not, nodes.Compare, nodes.Operand, nodes.Keyword, nodes.List,
    nodes.Tuple, nodes.Neg, nodes.Pos,
})
_TAGS = {nodes.For: "for", nodes.Macro: "macro", nodes.CallBlock: "call", nodes.Assign: "set",
         nodes.AssignBlock: "set", nodes.With: "with", nodes.Include: "include", nodes.Import: "import",
         nodes.FromImport: "from", nodes.Extends: "extends", nodes.Block: "block", nodes.FilterBlock: "filter",
         nodes.ScopedEvalContextModifier: "autoescape"}
# Filters that cannot make their output much longer than their input (no center(10**9), no indent, no replace).
_JINJA_FILTERS = ("default", "d", "upper", "lower", "title", "capitalize", "trim", "truncate")
# The recipient's locale and time zone while a template runs: the date filters read them.
_FORMAT: ContextVar[tuple[str, tzinfo]] = ContextVar("notification_format", default=("en", UTC))


class TemplateProblem(Exception):
    """A template that cannot be saved or run; ``line`` is its line number when known."""

    def __init__(self, line: int | None, message: str):
        super().__init__(message)
        self.line, self.message = line, message

    def __str__(self) -> str:
        return _("Line %(line)s: %(message)s", line=self.line, message=self.message) if self.line else self.message


class Moment(str):
    """A point in time as templates see it: its text is the date and time in the recipient's language and time zone,
    and the ``datetime`` and ``date`` filters format the point itself (templates cannot read ``moment``)."""

    moment: datetime

    def __new__(cls, moment: datetime, text: str) -> Moment:
        obj = super().__new__(cls, text)
        obj.moment = moment
        return obj


class _Sandbox(ImmutableSandboxedEnvironment):
    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return False  # merge fields are plain values: there is nothing to reach through them

    def is_safe_callable(self, obj: Any) -> bool:
        return False


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _format_datetime(value: Any, format: str = "medium") -> str:
    if not isinstance(value, datetime | Moment):
        return value  # already a formatted string (the outbox's created_at)
    locale, zone = _FORMAT.get()
    return format_datetime(_aware(getattr(value, "moment", value)), format, tzinfo=zone, locale=locale)


def _format_date(value: Any, format: str = "long") -> str:
    if not isinstance(value, datetime | Moment):
        return value
    locale, zone = _FORMAT.get()
    return format_date(_aware(getattr(value, "moment", value)).astimezone(zone).date(), format, locale=locale)


def _environment() -> _Sandbox:
    env = _Sandbox(autoescape=False, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                   keep_trailing_newline=True)
    env.globals.clear()  # no range(), dict(), lipsum(), cycler(), namespace()
    env.filters = {name: env.filters[name] for name in _JINJA_FILTERS}
    env.filters.update(datetime=_format_datetime, date=_format_date)
    return env


ENVIRONMENT = _environment()
FILTERS = tuple(sorted(ENVIRONMENT.filters))


@lru_cache(maxsize=512)
def compile_template(source: str) -> Template:
    """The template of ``source``; raises ``TemplateProblem`` for a syntax error or anything the sandbox refuses."""
    try:
        ast = ENVIRONMENT.parse(source)
    except TemplateSyntaxError as error:
        raise TemplateProblem(error.lineno, error.message or str(error)) from None
    problems = list(_problems(ast))
    if problems:
        raise min(problems, key=lambda problem: problem.line or 0)
    try:
        return ENVIRONMENT.from_string(ast)
    except TemplateSyntaxError as error:
        raise TemplateProblem(error.lineno, error.message or str(error)) from None


def _problems(ast: nodes.Template):
    for node in ast.find_all(nodes.Node):
        kind = type(node)
        if kind not in _ALLOWED_NODES:
            yield TemplateProblem(node.lineno, _refusal(node))
        elif kind is nodes.Name and node.name not in MERGE_FIELDS:
            yield TemplateProblem(node.lineno, _unknown_field(node.name))
        elif kind in (nodes.List, nodes.Tuple) and not all(type(item) is nodes.Const for item in node.items):
            # ["a", "b"] for `in` tests; a list of merge fields would print its values (and copies of them) at once
            yield TemplateProblem(node.lineno, _("A list may hold only fixed values, e.g. [\"open\", \"pending\"]."))
        elif kind is nodes.Filter and node.name not in ENVIRONMENT.filters:
            yield TemplateProblem(node.lineno, _("Unknown filter “%(name)s”. The filters are %(known)s.",
                                                 name=node.name, known=", ".join(FILTERS)))


def _refusal(node: nodes.Node) -> str:
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        return _("Merge fields have no attributes or items: write the field's name alone.")
    tag = _TAGS.get(type(node))
    if tag:
        return _("The “%(tag)s” tag is not allowed: use merge fields, filters and “if” conditions.", tag=tag)
    return _("This expression is not allowed: use merge fields, filters and “if” conditions.")


def _unknown_field(name: str) -> str:
    close = difflib.get_close_matches(name, MERGE_FIELDS, n=1)
    if close:
        return _("Unknown merge field “%(name)s”: did you mean “%(close)s”?", name=name[:40], close=close[0])
    return _("Unknown merge field “%(name)s”. The merge fields are listed next to the editor.", name=name[:40])


def plain_values(fields: Mapping[str, Any], *, locale: str, zone: tzinfo) -> dict[str, Any]:
    """Every merge field (missing ones empty) as a string or number; datetimes become ``Moment``s."""
    return {name: _plain(fields.get(name), locale, zone) for name in MERGE_FIELDS}


def _plain(value: Any, locale: str, zone: tzinfo) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool | int | float | Decimal):
        return value
    if isinstance(value, datetime):
        return Moment(value, format_datetime(_aware(value), "medium", tzinfo=zone, locale=locale))
    if isinstance(value, str | LazyString):
        return str(value)
    raise TypeError(f"merge field values are strings, numbers or datetimes, not {type(value).__name__}")


def run(template: Template, values: dict[str, Any], *, locale: str, zone: tzinfo) -> str:
    """``template`` filled with ``values`` (from ``plain_values``); raises ``TemplateProblem`` when it fails."""
    token = _FORMAT.set((locale, zone))
    try:
        parts, size = [], 0
        for chunk in template.generate(values):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateProblem(None, _("The text would be longer than %(max)s characters.", max=MAX_OUTPUT))
            parts.append(chunk)
        return "".join(parts)
    except TemplateProblem:
        raise
    except Exception as error:  # a filter's argument, a date pattern: whatever it is, this template cannot run
        raise TemplateProblem(_template_line(error), str(error) or type(error).__name__) from error
    finally:
        _FORMAT.reset(token)


def _template_line(error: BaseException) -> int | None:
    """Jinja rewrites tracebacks so that the template's own frames carry its line numbers."""
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__) if frame.filename == "<template>"]
    return lines[-1] if lines else None

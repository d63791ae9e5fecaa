"""Trying the rules on a pasted mail: which rules match, and what a new ticket from it would get.

The evaluation follows ``app.routing.services._apply_rules`` step by step (the same ``rule_texts``, pattern flags,
timeout and "stop"), so what admins see here is what the pipeline does; tests/web/test_rules.py holds them to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import parseaddr

import regex
from sqlalchemy import select

from app.extensions import db
from app.queues.models import Queue
from app.routing.models import RoutingRule
from app.routing.services import RULE_TIMEOUT, compile_pattern, is_vip, rule_texts
from app.rules.services import rules
from app.tickets.models import Contact, Priority
from tenants.models import Tenant


@dataclass
class RuleResult:
    rule: RoutingRule
    outcome: str  # matched | no_match | inactive | not_reached | error | timeout
    matched: str = ""


@dataclass
class RuleTrial:
    sender: str
    vip: bool = False
    results: list[RuleResult] = field(default_factory=list)
    queue: Queue | None = None  # None: the queue of the address the mail was sent to stays
    category: str | None = None
    priority: str = Priority.NORMAL.value
    stopped_by: RoutingRule | None = None

    @property
    def matched(self) -> list[RoutingRule]:
        return [result.rule for result in self.results if result.outcome == "matched"]


def _texts(subject: str, body: str, sender: str) -> dict[str, str]:
    name, address = parseaddr(sender)
    return rule_texts(subject, body, name, address)


def _evaluate(rule: RoutingRule, text: str) -> RuleResult:
    try:
        found = compile_pattern(rule.pattern).search(text, timeout=RULE_TIMEOUT)
    except regex.error:
        return RuleResult(rule, "error")
    except TimeoutError:
        return RuleResult(rule, "timeout")
    return RuleResult(rule, "matched", found.group(0)[:80]) if found else RuleResult(rule, "no_match")


def _apply(run: RuleTrial, rule: RoutingRule) -> None:
    if rule.queue_id is not None:
        run.queue = rule.queue
    if rule.category:
        run.category = rule.category
    if rule.priority:
        run.priority = rule.priority


def try_rules(tenant: Tenant, *, subject: str = "", body: str = "", sender: str = "") -> RuleTrial:
    """Run every rule on the pasted mail without changing anything. A VIP sender's tickets skip rules in the
    pipeline: the matches are still listed, but the outcome is the VIP's (high priority, no rule effects)."""
    texts = _texts(subject or "", body or "", sender or "")
    address = parseaddr(sender or "")[1].lower()
    contact = db.session.scalar(select(Contact).where(Contact.tenant_id == tenant.id, Contact.email == address))
    run = RuleTrial(sender=address, vip=bool(address) and is_vip(tenant, contact, address))
    for rule in rules(tenant):
        if not rule.active:
            run.results.append(RuleResult(rule, "inactive"))
        elif run.stopped_by is not None:
            run.results.append(RuleResult(rule, "not_reached"))
        else:
            result = _evaluate(rule, texts.get(rule.field, texts["any"]))
            run.results.append(result)
            if result.outcome == "matched":
                _apply(run, rule)
                run.stopped_by = rule if rule.stop else None
    if run.vip:
        run.queue, run.category, run.priority = None, None, Priority.HIGH.value
    return run

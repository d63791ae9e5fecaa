"""Alert evaluation: every minute, each tenant's rules against its mail flow (opening and resolving alerts)."""

from __future__ import annotations

from worker.jobs import job


@job
def evaluate_alerts(region: str) -> dict:
    """Evaluate every tenant of ``region``; running it twice at once notifies nothing twice (see
    ``app.alerts.services``). Returns how many alerts opened and resolved."""
    from app.alerts.services import evaluate_region

    return evaluate_region(region)

"""The health table's text, made in Python: every pattern is translated once per page, not once per cell (with 200
mailboxes, per-cell ``_()`` calls and a Jinja macro per sparkline were most of the page's time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from flask_babel import format_timedelta, gettext
from markupsafe import escape

from app.health.mailbox_stats import WINDOWS, MailboxStats
from app.mailboxes.models import Mailbox

SPARK_WIDTH, SPARK_HEIGHT = 120, 24


@dataclass(frozen=True)
class Sparkline:
    points: str  # the SVG polyline's points
    total: int
    label: str

    def __html__(self) -> str:
        """The inline SVG, written here once instead of through the template 400 times a page."""
        label = escape(self.label)
        return (f'<svg class="sparkline" width="{SPARK_WIDTH}" height="{SPARK_HEIGHT}" viewBox="0 0 '
                f'{SPARK_WIDTH * 10} {SPARK_HEIGHT * 10}" role="img" aria-label="{label}"><title>{label}</title>'
                f'<polyline fill="none" stroke="currentColor" stroke-width="15" points="{self.points}"/></svg>')


@dataclass(frozen=True)
class HealthRow:
    mailbox: Mailbox
    status_label: str
    synced: str | None  # ISO 8601 (UTC), for the <time> element; the page shows the lag
    lag: str | None
    rates: list[tuple[str, str]]  # (the rate, its "n of m attempts" title), one per window
    latencies: list[str]
    mail_in: Sparkline
    mail_out: Sparkline


@lru_cache(maxsize=8)
def _xs(count: int, width: int) -> tuple[str, ...]:
    return tuple(str(index * width // (count - 1)) for index in range(count))


def spark_points(values: list[int], width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT) -> str:
    """Whole numbers in a viewBox ten times the drawn size: as sharp as one decimal, and quick to write."""
    top, xs = max(max(values), 1), _xs(len(values), width * 10)
    scale, bottom = (height - 2) * 10 / top, (height - 1) * 10
    return " ".join(f"{x},{bottom - round(value * scale)}" for x, value in zip(xs, values, strict=True))


def status_labels() -> dict[str, str]:
    return {"active": gettext("Active"), "paused": gettext("Paused"), "failing": gettext("Failing"),
            "reauth_required": gettext("Needs re-connect")}


def rows(stats: list[MailboxStats]) -> list[HealthRow]:
    labels = status_labels()
    texts: dict[int, str] = {}

    def lag_text(lag: timedelta) -> str:
        # Babel's wording is the same for a whole minute (or second, under one): worded once per page each.
        seconds = int(lag.total_seconds())
        unit = seconds if seconds < 60 else seconds // 60 * 60
        if unit not in texts:
            texts[unit] = format_timedelta(timedelta(seconds=unit), threshold=1.1)
        return texts[unit]

    ago, ms, attempts = gettext("%(lag)s ago"), gettext("%(ms)s ms"), gettext("%(ok)s of %(attempts)s attempts")
    received, sent = gettext("Received: %(count)s in 24 h"), gettext("Sent: %(count)s in 24 h")
    out = []
    for item in stats:
        mailbox, lag = item.mailbox, item.sync_lag
        windows = [item.windows[name] for name in WINDOWS]
        out.append(HealthRow(
            mailbox=mailbox, status_label=labels[mailbox.status.value],
            synced=mailbox.last_synced_at.isoformat(timespec="seconds") if mailbox.last_synced_at else None,
            lag=ago % {"lag": lag_text(lag)} if lag is not None else None,
            rates=[(f"{w.success_rate * 100:.0f} %" if w.success_rate is not None else "—",
                    attempts % {"ok": w.ok, "attempts": w.attempts}) for w in windows],
            latencies=[ms % {"ms": f"{w.median_ms:.0f}"} if w.median_ms is not None else "—" for w in windows],
            mail_in=Sparkline(spark_points(item.mail_in), sum(item.mail_in),
                              received % {"count": sum(item.mail_in)}),
            mail_out=Sparkline(spark_points(item.mail_out), sum(item.mail_out),
                               sent % {"count": sum(item.mail_out)})))
    return out

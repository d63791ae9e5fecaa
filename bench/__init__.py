"""Postroom's benchmarks: ``make bench`` (``python -m bench [names...]``) runs them and rewrites docs/benchmarks.md.

Adding one: a module in this package with ``TITLE``, ``TARGET``, a docstring saying what is measured against what,
and ``run(ctx: bench.harness.Context) -> bench.harness.Result``; then its name in ``BENCHMARKS``. Benchmarks are
never part of the test suite.
"""

BENCHMARKS: list[str] = [
    "initial_sync",
    "idle_latency",
    "polling",
    "inbox_views",
    "notifications",
    "health_page",
]

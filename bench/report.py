"""docs/benchmarks.md, rewritten by every run.

Each benchmark's measured part sits between ``<!-- bench:NAME -->`` markers: a run of only some benchmarks keeps the
others' last figures (each dated), so the page always lists every benchmark that exists.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from types import ModuleType

from bench.harness import Result

_SECTION = re.compile(r"<!-- bench:(?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- /bench:(?P=name) -->", re.S)
_ROW = re.compile(r"<!-- row: (?P<row>\|.*\|) -->")


@dataclass
class Outcome:
    name: str
    module: ModuleType
    result: Result | None = None
    error: str | None = None  # the benchmark raised: no figures, counted as FAIL


@dataclass
class Run:
    date: str
    backend: str
    scale: float
    facts: list[tuple[str, str]]


def _ratio(result: Result) -> str:
    return f"{result.ratio:.2g} x" if result.ratio is not None else "—"


def _verdict(outcome: Outcome) -> str:
    if outcome.error is not None:
        return "**ERROR**"
    return "**PASS**" if outcome.result.passed else "**FAIL**"


def _summary_row(outcome: Outcome, run: Run) -> str:
    title = outcome.module.TITLE
    measured = f"{run.date}, {run.backend}" + (f", scale {run.scale:g}" if run.scale != 1 else "")
    if outcome.result is None:
        return (f"| [{title}](#{outcome.name}) | {outcome.module.TARGET} | — | — | — | "
                f"{_verdict(outcome)} | {measured} |")
    result = outcome.result
    baseline = str(result.baseline) if result.baseline else "—"
    return (f"| [{title}](#{outcome.name}) | {outcome.module.TARGET} | {baseline} | {result.postroom} | "
            f"{_ratio(result)} | {_verdict(outcome)} | {measured} |")


def _measured(outcome: Outcome, run: Run) -> str:
    lines = [f"<!-- row: {_summary_row(outcome, run)} -->",
             f"Measured {run.date} on {run.backend}" + (f", scale {run.scale:g} (not a full run)"
                                                        if run.scale != 1 else "") + ".", ""]
    if outcome.error is not None:
        return "\n".join([*lines, "The benchmark did not finish:", "", "```", outcome.error.strip(), "```", ""])
    result = outcome.result
    lines += ["| | figure |", "|---|---|"]
    if result.baseline is not None:
        lines.append(f"| Baseline: {result.baseline.label} | {result.baseline} |")
    lines.append(f"| Postroom: {result.postroom.label} | {result.postroom} |")
    if result.ratio is not None:
        lines.append(f"| Ratio (Postroom ÷ baseline) | {_ratio(result)} |")
    lines += [f"| Result | {_verdict(outcome)} |", ""]
    if result.details:
        lines += ["| breakdown | |", "|---|---|", *(f"| {k} | {v} |" for k, v in result.details), ""]
    lines += [f"- {note}" for note in result.notes]
    return "\n".join([*lines, ""])


def previous_sections(text: str) -> dict[str, str]:
    return {m["name"]: m["body"] for m in _SECTION.finditer(text or "")}


def render(run: Run, modules: dict[str, ModuleType], outcomes: dict[str, Outcome], previous: str = "") -> str:
    """The whole page: ``modules`` are all registered benchmarks, ``outcomes`` those run now."""
    kept = previous_sections(previous)
    bodies, rows = {}, []
    for name in modules:
        if name in outcomes:
            bodies[name] = _measured(outcomes[name], run)
        else:
            bodies[name] = kept.get(name, "<!-- row: | | | | | | | | -->\nNot measured yet.\n")
        row = _ROW.search(bodies[name])
        title = modules[name].TITLE
        rows.append(row["row"] if row and row["row"].strip("| ") else
                    f"| [{title}](#{name}) | {modules[name].TARGET} | — | — | — | not run | — |")
    out = [
        "# Benchmarks", "",
        "Written by `make bench` (`python -m bench`), which measures every figure below; do not edit by hand "
        "(the text comes from `bench/report.py` and the benchmarks' docstrings).", "",
        f"Last run: {run.date} on {run.backend}" + (f", scale {run.scale:g}" if run.scale != 1 else "") +
        f"; benchmarks run: {', '.join(outcomes) or 'none'}.", "",
        "## Summary", "",
        "| benchmark | target | baseline | Postroom | ratio | result | measured |",
        "|---|---|---|---|---|---|---|", *rows, "",
        "## Machine of the last run", "",
        "| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in run.facts), "",
        "## The benchmarks", "",
    ]
    for name, module in modules.items():
        out += [f'<a id="{name}"></a>', f"### {module.TITLE}", "",
                f"`bench/{name}.py` — target: {module.TARGET}.", "",
                inspect.cleandoc(module.__doc__ or ""), "",
                f"<!-- bench:{name} -->", bodies[name].rstrip("\n"), f"<!-- /bench:{name} -->", ""]
    out += [HOW_TO_RUN.strip(), ""]
    return "\n".join(out)


HOW_TO_RUN = """
## How to run

```sh
make bench                       # every benchmark, on PostgreSQL; rewrites this page
make bench BENCH_ARGS="initial_sync --sqlite"     # options of `python -m bench`, through make
.venv/bin/python -m bench initial_sync            # only the named ones (the others keep their last figures)
.venv/bin/python -m bench --sqlite                # on SQLite (the embedded default of `make run`)
.venv/bin/python -m bench --scale 0.1 --no-write  # a quick look at a tenth of the size, page left alone
.venv/bin/python -m bench --list
```

The harness starts what it needs and removes it afterwards: a private `redis-server` on a free port (the test
suite's Redis databases are never touched), a fresh PostgreSQL database `postroom_bench_<pid>` on 127.0.0.1:5432
(`POSTROOM_BENCH_DATABASE_URL` names the server and the prefix, `--database-url` the exact database; created,
migrated and dropped) or a SQLite file with `--sqlite`, its own Dovecot from `scripts/devstack`, and real
`flask --app wsgi worker` processes. Every benchmark starts from an empty database, Redis and blob store. `--keep`
leaves the scratch folder (worker logs, Dovecot state) in /tmp for a look. Benchmarks are never part of
`make test`. Close other heavy programs first: the figures are wall-clock times, and the machine table gives the
load average around the run.

Adding a benchmark: a module in `bench/` with `TITLE`, `TARGET`, a docstring saying what is measured against
what, and `run(ctx) -> Result` (see `bench/harness.py`: `ctx.reset()` has already run; `ctx.dovecot`,
`ctx.mail_user()`, `ctx.maildir()`, `ctx.workers()`, `ctx.app`, `ctx.scaled()`), then its name in
`bench.BENCHMARKS`.

## What the figures mean

- **baseline**: the same work done the simplest way that still does the job's core, measured in the same run on
  the same machine, services and data, so the ratio does not depend on how fast the machine is.
- **Postroom**: the real code path with all its guarantees (raw mail durable before its receipt, receipts committed
  before anything happens on the server, exactly-once, a bad message isolated from its batch), through real worker
  processes where production uses them.
- **ratio**: Postroom ÷ baseline for rates (higher is better); the target says which ratio passes.
- **result**: PASS when the target holds in this run; ERROR when the benchmark did not finish.
- **breakdown**: where the time goes, to guide optimization; not part of the target.
"""

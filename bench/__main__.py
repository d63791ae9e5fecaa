"""``python -m bench [names...]``: run the benchmarks and rewrite docs/benchmarks.md."""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench import BENCHMARKS
from bench.harness import ROOT, Context, Options
from bench.report import Outcome, Run, render


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    parser.add_argument("--sqlite", action="store_true", help="run on SQLite instead of PostgreSQL")
    parser.add_argument("--database-url", help="PostgreSQL URL of the scratch database (dropped and re-created!)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every benchmark's size (quick looks)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave the page alone")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs, Dovecot state)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed, not only on errors")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    modules = {name: importlib.import_module(f"bench.{name}") for name in BENCHMARKS}
    if args.list:
        for name, module in modules.items():
            print(f"{name}\t{module.TITLE} — target: {module.TARGET}")
        return 0
    unknown = [n for n in args.names if n not in modules]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(modules)}", file=sys.stderr)
        return 2
    ctx = Context(Options(sqlite=args.sqlite, scale=args.scale, database_url=args.database_url, keep=args.keep))
    outcomes: dict[str, Outcome] = {}
    try:
        ctx.start()
        for name in args.names or list(modules):
            print(f"== {name}: {modules[name].TITLE}", flush=True)
            outcomes[name] = _run_one(ctx, name, modules[name])
        run = Run(date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), backend=ctx.backend, scale=args.scale,
                  facts=ctx.facts())
    finally:
        ctx.close()
        if args.keep:
            print(f"scratch folder kept: {ctx.workdir}")
    if not args.no_write:
        previous = args.output.read_text() if args.output.exists() else ""
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(render(run, modules, outcomes, previous))
        print(f"wrote {args.output}")
    errors = any(o.error for o in outcomes.values())
    missed = any(o.result is not None and not o.result.passed for o in outcomes.values())
    return 1 if errors or (args.strict and missed) else 0


def _run_one(ctx: Context, name: str, module) -> Outcome:
    try:
        ctx.reset()
        result = module.run(ctx)
    except Exception:
        print(traceback.format_exc(), file=sys.stderr)
        return Outcome(name, module, error=traceback.format_exc(limit=5))
    print(f"   baseline {result.baseline}, Postroom {result.postroom}, ratio "
          f"{result.ratio:.2f} → {'PASS' if result.passed else 'FAIL'}", flush=True)
    for what, figure in result.details:
        print(f"   {what}: {figure}", flush=True)
    return Outcome(name, module, result=result)


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bench [--scale S] [--only delete,search,seats,scim,memory] [--db sqlite,postgresql]``.

Runs the chosen benchmarks, writes each one's results to ``bench/results/<name>.json`` and the
report, built from every results file present, to ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from bench import report
from bench.common import (
    RESULTS_DIR,
    database_versions,
    log,
    machine_info,
    read_results,
    stopwatch,
    write_result,
)

SECTIONS = ("delete", "search", "seats", "scim", "memory")
DATABASES = ("sqlite", "postgresql")


def _csv(value: str, allowed: tuple[str, ...]) -> list[str]:
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown: {', '.join(unknown)}; choose from {', '.join(allowed)}")
    return chosen


def _stop_on_sigterm() -> None:
    """A terminated run still drops the databases it made (the ``finally`` blocks run)."""
    import signal

    def stop(_signum: int, _frame: Any) -> None:
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> int:
    _stop_on_sigterm()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = the sizes in docs/benchmarks.md")
    parser.add_argument("--only", type=lambda v: _csv(v, SECTIONS), default=list(SECTIONS))
    parser.add_argument("--db", type=lambda v: _csv(v, DATABASES), default=list(DATABASES))
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each timed run (median)")
    parser.add_argument("--rounds", type=int, default=10, help="seat rounds per organization")
    parser.add_argument("--no-big", action="store_true", help="skip the 2,000,000-reference case")
    parser.add_argument("--no-report", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)

    started = datetime.now(UTC)
    meta = {
        "started": started.isoformat(timespec="seconds"),
        "scale": args.scale,
        "machine": machine_info(),
        "versions": database_versions(),
        "argv": sys.argv[1:] if argv is None else argv,
        "commit": os.popen("git rev-parse --short HEAD 2>/dev/null").read().strip(),
    }
    failures: list[str] = []
    if "postgresql" in args.db and str(meta["versions"].get("postgresql", "")).startswith("unavailable"):
        log(f"PostgreSQL is {meta['versions']['postgresql']}: running on SQLite only")
        args.db = [d for d in args.db if d != "postgresql"]
    for section in args.only:
        log(f"== {section} (scale {args.scale}, {', '.join(args.db)})")
        with stopwatch() as elapsed:
            try:
                payload: dict[str, Any] = {"meta": meta}
                if section == "delete":
                    from bench import delete

                    for kind in args.db:
                        payload[kind] = {
                            **delete.run(kind, args.scale, args.reps, big=not args.no_big),
                            "meta": meta,
                        }
                elif section == "seats":
                    from bench import seats

                    for kind in args.db:
                        payload[kind] = {**seats.run(kind, args.scale, args.rounds), "meta": meta}
                elif section == "memory":
                    from bench import memory

                    for kind in args.db:
                        payload[kind] = {**memory.run(kind, args.scale), "meta": meta}
                elif section == "search":
                    from bench import search

                    payload["result"] = search.run(args.scale, args.db, reps=args.reps)
                elif section == "scim":
                    from bench import scim

                    payload["result"] = scim.run(args.scale)
                payload["meta"] = {**payload["meta"], "seconds": elapsed()}
                # Results of a database not run this time are kept (read now, not at the start, so
                # two runs on different databases may overlap), so one section can hold, say,
                # SQLite at scale 1 and PostgreSQL at a smaller scale.
                previous = read_results().get(section, {})
                for k, v in previous.items():
                    if k in DATABASES and k not in args.db and k not in payload:
                        payload[k] = v
                write_result(section, payload)
                (RESULTS_DIR / f"{section}-error.json").unlink(missing_ok=True)
            except Exception:
                failures.append(section)
                log(f"{section} failed:\n{traceback.format_exc()}")
                write_result(
                    f"{section}-error",
                    {"meta": meta, "error": traceback.format_exc()},
                )
                continue
        log(f"== {section} done in {elapsed():.0f}s")
    if not args.no_report:
        path = report.write()
        log(f"report written to {path}")
    if failures:
        log(f"failed: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

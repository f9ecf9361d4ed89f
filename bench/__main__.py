"""``python -m bench [--quick] [--groups inprocess,e2e,micro] [--targets raw,direct,...]``.

Runs the selected groups, prints the tables and writes them to ``bench/results/latest.md``.
``--readme`` also replaces the results section of ``bench/README.md``.
"""

# ruff: noqa: RUF001
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

from . import e2e, inprocess, micro, report, versus
from .apps import VARIANTS
from .loadclient import SCENARIOS
from .server import PROTOTYPE_TARGETS, TARGETS

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
GROUPS = ("inprocess", "e2e", "paired", "versus", "micro")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the short run (under two minutes)")
    parser.add_argument("--groups", default=",".join(GROUPS), help=f"subset of {GROUPS}")
    parser.add_argument(
        "--targets",
        help="variants / servers (default: all; --quick leaves out the prototypes)",
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="end-to-end scenarios")
    parser.add_argument("--rounds", type=int, help="override the number of interleaved rounds")
    parser.add_argument("--readme", action="store_true", help="copy the tables into README.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    groups = [g for g in args.groups.split(",") if g]
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise SystemExit(f"unknown groups: {sorted(unknown)}")
    quick = args.quick
    default = [t for t in TARGETS if not (quick and t in PROTOTYPE_TARGETS)]
    targets = tuple(t for t in (args.targets or ",".join(default)).split(",") if t)
    started = time.monotonic()
    mode = "quick" if quick else "full"
    sections = [
        f"Run {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {mode} mode. "
        f"{report.environment()}.",
    ]
    goals: list[report.Goal] = []
    raw_samples: dict[str, object] = {"mode": mode}

    if "inprocess" in groups:
        rounds = args.rounds or (3 if quick else 7)
        n = 3000 if quick else 10000
        log(f"in process: {rounds} rounds × {n} messages per workload and variant")
        variants = tuple(v for v in VARIANTS if v in targets)
        result = inprocess.run(rounds=rounds, n=n, variants=variants, progress=log)
        raw_samples["inprocess"] = {"/".join(k): v for k, v in result.samples.items()}
        table, more = report.inprocess_table(result)
        goals += more
        sections.append(
            f"### In process (messages/s, CPU time, median of {rounds} interleaved rounds of "
            f"{n} messages; ratio against raw in the same run; µs = added cost per message)\n\n"
            + table
        )

    if "e2e" in groups:
        rounds = args.rounds or (1 if quick else 5)
        duration = 0.8 if quick else 1.5
        log(f"end to end: {rounds} rounds, {duration} s windows")
        e2e_targets = tuple(t for t in TARGETS if t in targets)
        scenarios = tuple(s for s in args.scenarios.split(",") if s)
        result_e2e = e2e.run(
            rounds=rounds,
            duration=duration,
            count=1000 if quick else 5000,
            idle=1000,
            results_dir=RESULTS,
            targets=e2e_targets,
            scenarios=scenarios,
            progress=log,
        )
        raw_samples["e2e"] = {"/".join(k): v for k, v in result_e2e.samples.items()}
        raw_samples["e2e_errors"] = {"/".join(k): v for k, v in result_e2e.errors.items()}
        tables, more = report.e2e_tables(result_e2e)
        goals += more
        sections.append(
            f"### End to end (hypercorn 0.18 trio worker on 127.0.0.1, one server process; "
            f"median of {rounds} interleaved round(s), {duration} s windows; ratio against raw)"
            "\n\n" + tables
        )

    if "paired" in groups:
        cycles, seconds = (4, 0.3) if quick else (15, 0.4)
        log(f"paired end to end: {cycles} cycles of {seconds} s slices")
        paired = e2e.run_paired(
            cycles=cycles,
            seconds=seconds,
            results_dir=RESULTS,
            targets=tuple(t for t in TARGETS if t in targets),
            progress=log,
        )
        raw_samples["paired"] = paired.cycles
        table, more = report.paired_table(paired)
        # The paired run judges the e2e throughput goals; drop the per-round estimate's.
        goals = [g for g in goals if not g.name.startswith("e2e 50 conns")] + more
        sections.append(
            "### End to end, paired: 50 connections × 32 B, all servers up at once, the client "
            f"alternating between them in {seconds} s slices over {cycles} cycles (neighbouring "
            "slices share the machine's conditions; the ratio is the median of per-cycle "
            "ratios of server CPU per round trip)\n\n" + table
        )

    if "versus" in groups:
        log("versus: trio_ws against uvicorn-uvloop and websockets on uvloop (issue #16)")
        table, figures = versus.run(
            quick=quick,
            cycles=15,
            rounds=args.rounds or 3,
            scale_settings=versus.QUICK_SCALE if quick else versus.ScaleSettings(),
        )
        raw_samples["versus"] = figures
        sections.append(
            "### Against the asyncio world: server CPU per operation, 50 connections "
            "(`python -m bench.versus`)\n\n" + table
        )

    if "micro" in groups:
        log("micro: trio primitives")
        costs = micro.run(rounds=1 if quick else 3, n=5000 if quick else 20000)
        raw_samples["micro"] = costs
        sections.append("### trio primitives on this machine\n\n" + report.micro_table(costs))

    if goals:
        sections.insert(1, "### Goals\n\n" + report.goals_table(goals))
    sections.append(f"Total time {time.monotonic() - started:.0f} s.")
    text = "\n\n".join(sections) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.md").write_text(text)
    (RESULTS / "latest.json").write_text(json.dumps(raw_samples, indent=1))
    log(f"written to {RESULTS / 'latest.md'}")
    if args.readme:
        update_readme(text)
        log(f"copied into {README}")


def update_readme(text: str) -> None:
    readme = README.read_text()
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    README.write_text(f"{head}{START}\n{text}{END}{tail}")


if __name__ == "__main__":
    main()

"""The websocket engine's goals (issue #11), measured: ``python -m bench.engine``.

Targets: raw ASGI on plain hypercorn-trio (``raw``, the baseline), the same raw application,
trio_ws direct and structured on ``trio_ws.serve``'s engine (``raw@serve``, ``direct@serve``,
``structured@serve``), and websockets' Trio server (``websockets``).

* 50 connections x 32 B: the **paired** run (all servers up at once, the load alternating
  between them in short slices); the figure is server CPU per round trip, the ratio the median
  over cycles of the baseline's CPU per round trip divided by the target's.
* 64 KiB round trips, handshakes and memory per idle connection: interleaved end-to-end rounds
  (``bench.e2e``), medians; ratios of medians.

``--quick`` shortens everything (a smoke run, not a measurement). Prints one table with each
goal next to its figure; ``--json PATH`` also writes the raw medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from . import e2e

ROOT = Path(__file__).resolve().parent
ENGINE_TARGETS = ("raw", "raw@serve", "direct@serve", "structured@serve", "websockets")

#: (label, target, baseline, minimum ratio); ratios are "how many times better than baseline".
PAIRED_GOALS = (
    ("raw ASGI on trio_ws.serve vs raw on plain hypercorn, 32 B", "raw@serve", "raw", 2.5),
    ("trio_ws direct on trio_ws.serve vs raw on plain hypercorn, 32 B", "direct@serve", "raw", 2.0),
    ("trio_ws direct on trio_ws.serve vs websockets' Trio server, 32 B", "direct@serve",
     "websockets", 1.5),
    ("trio_ws structured on trio_ws.serve vs raw on plain hypercorn, 32 B", "structured@serve",
     "raw", 1.8),
)  # fmt: skip


def _paired_ratio(result: e2e.PairedResult, target: str, base: str) -> float | None:
    mine, theirs = result.cycles.get(target), result.cycles.get(base)
    if not mine or not theirs:
        return None
    return statistics.median(
        b["server_us_per_op"] / m["server_us_per_op"] for b, m in zip(theirs, mine, strict=False)
    )


def _fmt(value: float | None, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:,.1f}{unit}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cycles", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    cycles, seconds, rounds, duration = (
        (3, 0.3, 1, 0.5) if args.quick else (args.cycles, 0.4, args.rounds, 1.5)
    )
    results_dir = ROOT / "results"
    paired = e2e.run_paired(
        cycles=cycles, seconds=seconds, results_dir=results_dir, targets=ENGINE_TARGETS
    )
    if paired.error:
        print(f"paired run failed: {paired.error}")
    sized = e2e.run(
        rounds=rounds,
        duration=duration,
        count=200 if args.quick else 1000,
        idle=200 if args.quick else 1000,
        results_dir=results_dir,
        targets=("raw", "raw@serve", "websockets"),
        scenarios=("memory", "rt50_64k", "handshake"),
    )
    rows: list[tuple[str, str, str, bool | None]] = []
    medians: dict[str, Any] = {}
    for label, target, base, goal in PAIRED_GOALS:
        ratio = _paired_ratio(paired, target, base)
        cpu, base_cpu = (paired.median(t, "server_us_per_op") for t in (target, base))
        figure = f"{_fmt(ratio, 'x')} ({_fmt(cpu)} vs {_fmt(base_cpu)} µs CPU/rt)"
        rows.append((label, f"≥ {goal}x", figure, None if ratio is None else ratio >= goal))
        medians[f"paired {target} vs {base}"] = ratio
    for label, scenario, key, goal, lower_is_better in (
        ("64 KiB round trips, server CPU/rt, raw@serve vs raw", "rt50_64k", "server_us_per_op",
         2.5, True),
        ("handshakes, server CPU per handshake, raw@serve vs raw", "handshake",
         "server_us_per_op", 1.8, True),
        ("memory per idle connection, raw@serve vs raw", "memory", "kib_per_conn", 0.75, True),
    ):  # fmt: skip
        mine = sized.median("raw@serve", scenario, key)
        base = sized.median("raw", scenario, key)
        peer = sized.median("websockets", scenario, key)
        if mine is None or base is None:
            ratio = None
        elif key == "kib_per_conn":
            ratio = mine / base
        else:
            ratio = base / mine if lower_is_better else mine / base
        met = None if ratio is None else (ratio <= goal if key == "kib_per_conn" else ratio >= goal)
        sign = "≤" if key == "kib_per_conn" else "≥"
        figure = f"{_fmt(ratio, 'x')} ({_fmt(mine)} vs {_fmt(base)}; websockets {_fmt(peer)})"
        if scenario == "handshake":
            rates = [sized.median(t, scenario, "rate") for t in ("raw@serve", "raw")]
            figure += f"; wall-clock {_fmt(rates[0])} vs {_fmt(rates[1])} handshakes/s"
        rows.append((label, f"{sign} {goal}x", figure, met))
        medians[f"{scenario} {key}"] = {"raw@serve": mine, "raw": base, "websockets": peer}
    print("| goal | target | measured | met |")
    print("|---|---|---|---|")
    for label, goal_text, figure, met in rows:
        mark = "-" if met is None else ("✅" if met else "❌")
        print(f"| {label} | {goal_text} | {figure} | {mark} |")
    print(f"\npaired: {cycles} cycles x {seconds} s; e2e: {rounds} round(s) x {duration} s")
    if args.json:
        args.json.write_text(json.dumps(medians, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

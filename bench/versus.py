"""trio_ws against what asyncio users deploy (issue #16): ``python -m bench.versus``.

One run, every goal printed next to its figure. All figures are **server CPU per operation**
(the server process's own CPU time over the measured window), so they hold on a shared machine
where wall-clock rates swing.

* **50 connections x 32 B** (the paired run, ``bench.e2e.run_paired``): every server is up at
  once and one load client alternates the ping-pong between them in short slices; a ratio is
  the median over cycles of the per-cycle ratio, so neighbouring slices share the machine's
  conditions. Targets: uvicorn on uvloop + httptools + ``ws="websockets-sansio"`` with the raw
  ASGI echo (``uvicorn``), websockets' asyncio server on uvloop (``websockets-uvloop``), raw
  ASGI, trio_ws direct and structured on ``trio_ws.serve`` (``*@serve``) and the same on plain
  ``hypercorn --worker-class trio`` (``raw``, ``direct``, ``structured``) with Starlette's
  ``WebSocket`` for reference.
* **Handshakes** (``bench.e2e.run_paired(handshakes=True)``): ``raw@serve`` and
  ``uvicorn`` up at once, the load client's 8 open/close loops alternate between them in short
  slices; the ratio is the median over cycles of the per-cycle ratio, as for 32 B.
* **64 KiB round trips** (interleaved end-to-end rounds, ``bench.e2e.run``): ``raw@serve``,
  ``uvicorn`` and ``websockets-uvloop``; ratios of medians.

Ratios read "target / baseline" in CPU per operation: below 1 the target is cheaper, except for
the plain-hypercorn goals, which read as efficiency (baseline / target: above 1 is better) as
in the issue. ``--quick`` shortens everything (a smoke run, not a measurement); ``--json PATH``
also writes the figures.

* **At rest and at scale** (issue #16's third requirement, ``bench.scale``, unless
  ``--skip-scale``): 5,000 idle connections to ``trio_ws.serve`` and to uvicorn with pings
  every 20 s (each server's CPU over the same windows, and its memory per connection); 10,000
  connections on one worker subscribed through ``Broadcast.forward`` against websockets'
  ``broadcast()`` on uvloop (the time until every client has one message, median of
  interleaved rounds, and deliveries per second under a steady rate); and 1,000 clients
  through ``Broadcast.forward`` against a raw ASGI room on the same server. Every goal is
  printed either way: one left out says so.

``--base DIR`` measures a change: DIR is a copy of the tree before it (``git archive <commit> |
tar -x -C DIR``), and every trio_ws target also runs from there as ``TARGET+base`` in the same
interleaved run; a last table gives each target's CPU per operation before and after, and the
median of the per-cycle ratios after / before.
"""

# The tables print × and µs on purpose.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import e2e, scale

ROOT = Path(__file__).resolve().parent
PAIRED_TARGETS = (
    "uvicorn",
    "websockets-uvloop",
    "raw@serve",
    "direct@serve",
    "structured@serve",
    "raw",
    "direct",
    "structured",
    "starlette",
)
SIZED_TARGETS = ("raw@serve", "uvicorn", "websockets-uvloop")
HANDSHAKE_TARGETS = ("raw@serve", "uvicorn")
#: The targets measured before and after a change with ``--base``.
BASE_TARGETS = ("raw@serve", "direct@serve", "structured@serve", "direct", "structured")


@dataclass(frozen=True)
class Goal:
    """``target``'s CPU per operation against ``base``'s; ``limit`` is the goal's bound.

    ``efficiency`` goals compare ``base / target`` against a minimum (plain hypercorn, as the
    issue words them); the others compare ``target / base`` against a maximum.
    """

    label: str
    target: str
    base: str
    limit: float | None
    efficiency: bool = False

    def met(self, ratio: float | None) -> bool | None:
        if ratio is None or self.limit is None:
            return None
        return ratio >= self.limit if self.efficiency else ratio <= self.limit

    def bound(self) -> str:
        if self.limit is None:
            return "reference"
        return f"{'≥' if self.efficiency else '≤'} {self.limit:.2f}×"


PAIRED_GOALS = (
    Goal("raw ASGI on trio_ws.serve / uvicorn-uvloop, 32 B", "raw@serve", "uvicorn", 1.15),
    Goal("trio_ws direct / raw ASGI, both on trio_ws.serve, 32 B", "direct@serve", "raw@serve",
         1.10),
    Goal("trio_ws structured / raw ASGI, both on trio_ws.serve, 32 B", "structured@serve",
         "raw@serve", 1.25),
    Goal("trio_ws direct on trio_ws.serve / uvicorn-uvloop, 32 B", "direct@serve", "uvicorn",
         1.30),
    Goal("trio_ws structured on trio_ws.serve / uvicorn-uvloop, 32 B", "structured@serve",
         "uvicorn", None),
    Goal("websockets asyncio on uvloop / uvicorn-uvloop, 32 B", "websockets-uvloop", "uvicorn",
         None),
    Goal("plain hypercorn-trio: trio_ws direct, efficiency vs raw ASGI", "direct", "raw", 0.90,
         efficiency=True),
    Goal("plain hypercorn-trio: trio_ws structured, efficiency vs raw ASGI", "structured", "raw",
         0.90, efficiency=True),
    Goal("plain hypercorn-trio: Starlette's WebSocket, efficiency vs raw ASGI", "starlette",
         "raw", None, efficiency=True),
)  # fmt: skip

SIZED_GOALS = (
    (Goal("raw ASGI on trio_ws.serve / websockets asyncio on uvloop, 64 KiB", "raw@serve",
          "websockets-uvloop", 1.0), "rt50_64k"),
    (Goal("raw ASGI on trio_ws.serve / uvicorn-uvloop, 64 KiB (reference)", "raw@serve",
          "uvicorn", None), "rt50_64k"),
)  # fmt: skip

HANDSHAKE_GOAL = Goal("CPU per handshake, trio_ws.serve / uvicorn-uvloop", "raw@serve", "uvicorn",
                      1.0)  # fmt: skip


@dataclass(frozen=True)
class ScaleSettings:
    """The sizes of the scale part (issue #16's own unless ``--quick``)."""

    idle: int = 5_000
    window: float = 40.0
    idle_rounds: int = 3
    clients: int = 10_000
    room: int = 1_000
    rounds: int = 5
    rate: float = 2.0
    seconds: float = 5.0


QUICK_SCALE = ScaleSettings(
    idle=200, window=1.0, idle_rounds=2, clients=200, room=100, rounds=2, rate=5.0, seconds=0.6
)
#: The issue's bounds: idle CPU in % of one core, memory in KiB per idle connection.
IDLE_CPU_LIMIT, IDLE_KIB_LIMIT = 1.5, 12.0
FANOUT_KINDS = ("forward", "websockets-uvloop")
ROOM_KINDS = ("forward", "raw-room")


def _row(label: str, bound: str, figure: str, detail: str, met: bool | None) -> str:
    return f"| {label} | {bound} | {figure} | {detail} | {_mark(met)} |"


def _median(values: list[float] | None) -> float | None:
    return statistics.median(values) if values else None


def _ratio(mine: float | None, theirs: float | None) -> float | None:
    return None if mine is None or not theirs else mine / theirs


def scale_rows(settings: ScaleSettings, logs: Path) -> tuple[list[str], dict[str, Any], list[str]]:
    """Run the scale part; its goal rows, figures and notes (errors)."""
    idle: dict[str, Any] = {}
    log(f"at rest: {settings.idle:,} idle connections, {settings.idle_rounds} x "
        f"{settings.window:g} s windows")  # fmt: skip
    scale.run_idle(
        settings.idle, settings.window, settings.idle_rounds, scale.IDLE_KINDS, logs, idle
    )
    log(f"fan-out: {settings.clients:,} connections, {settings.rounds} rounds")
    big = scale.run_fanout(
        settings.clients, settings.rounds, settings.rate, settings.seconds, FANOUT_KINDS, logs
    )
    log(f"fan-out: {settings.room:,} clients, Broadcast.forward against a raw ASGI room")
    room = scale.run_fanout(
        settings.room, settings.rounds, settings.rate, settings.seconds, ROOM_KINDS, logs
    )
    cpu = {kind: _median(values) for kind, values in idle.get("cpu", {}).items()}
    kib = idle.get("kib", {})
    mine_cpu, their_cpu = cpu.get("idle-trio_ws"), cpu.get("idle-uvicorn")
    mine_kib, their_kib = kib.get("idle-trio_ws"), kib.get("idle-uvicorn")
    once = {kind: _median(times) for kind, times in big.once.items()}
    steady = {kind: big.steady.get(kind, {}).get("per_second") for kind in FANOUT_KINDS}
    room_once = {kind: _median(times) for kind, times in room.once.items()}
    first = _ratio(once.get("forward"), once.get("websockets-uvloop"))
    rate = _ratio(steady["forward"], steady["websockets-uvloop"])
    versus_room = _ratio(room_once.get("forward"), room_once.get("raw-room"))
    idle_label = f"{settings.idle:,} idle connections, pings every 20 s"
    fan_label = f"{settings.clients:,} connections, one Broadcast.forward channel"
    rows = [
        _row(f"{idle_label}: server CPU, % of one core", f"≤ {IDLE_CPU_LIMIT:g} %",
             _fmt(mine_cpu, " %"), f"uvicorn-uvloop {_fmt(their_cpu, ' %')} in the same windows",
             None if mine_cpu is None else mine_cpu <= IDLE_CPU_LIMIT),
        _row(f"{idle_label}: memory per connection", f"≤ {IDLE_KIB_LIMIT:g} KiB",
             _fmt(mine_kib, " KiB"), f"uvicorn-uvloop {_fmt(their_kib, ' KiB')}",
             None if mine_kib is None else mine_kib <= IDLE_KIB_LIMIT),
        _row(f"{fan_label}: time until every client has one message / websockets broadcast() "
             "on uvloop", "≤ 1.00×", _fmt(first, "×"),
             f"{_fmt(_ms(once.get('forward')), ' ms')} vs "
             f"{_fmt(_ms(once.get('websockets-uvloop')), ' ms')}",
             None if first is None else first <= 1.0),
        _row(f"{fan_label}: deliveries/s at {settings.rate:g} messages/s, efficiency vs "
             "websockets broadcast() on uvloop", "≥ 1.00×", _fmt(rate, "×"),
             f"{_fmt(steady['forward'])} vs {_fmt(steady['websockets-uvloop'])}",
             None if rate is None else rate >= 1.0),
        _row(f"{settings.room:,} clients: Broadcast.forward / raw ASGI room on trio_ws.serve, "
             "time until every client has the message", "≤ 1.15×", _fmt(versus_room, "×"),
             f"{_fmt(_ms(room_once.get('forward')), ' ms')} vs "
             f"{_fmt(_ms(room_once.get('raw-room')), ' ms')}",
             None if versus_room is None else versus_room <= 1.15),
    ]  # fmt: skip
    figures = {
        "idle": idle,
        "fanout": {"once": big.once, "steady": big.steady, "cpu": big.cpu_per_delivery},
        "room": {"once": room.once, "cpu": room.cpu_per_delivery},
    }
    notes = [f"scale: {error}" for error in big.errors + room.errors]
    still = idle.get("still", {})
    notes += [
        f"at rest: {kind} kept {open_:,}/{settings.idle:,} connections open"
        for kind, open_ in still.items()
        if open_ != settings.idle
    ]
    return rows, figures, notes


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


SCALE_GOALS = (
    "idle CPU ≤ 1.5 % of a core (5,000 connections)",
    "memory ≤ 12 KiB per idle connection",
    "10,000 connections: first delivery to all ≤ websockets broadcast() on uvloop",
    "10,000 connections: deliveries/s ≥ websockets broadcast() on uvloop",
    "Broadcast.forward ≤ 1.15× a raw ASGI room (1,000 clients)",
)


def paired_ratio(result: e2e.PairedResult, goal: Goal) -> float | None:
    """Median over cycles of the per-cycle CPU ratio (as the goal reads it)."""
    mine, theirs = result.cycles.get(goal.target), result.cycles.get(goal.base)
    if not mine or not theirs:
        return None
    pairs = zip(mine, theirs, strict=False)
    if goal.efficiency:
        return statistics.median(b["server_us_per_op"] / m["server_us_per_op"] for m, b in pairs)
    return statistics.median(m["server_us_per_op"] / b["server_us_per_op"] for m, b in pairs)


def _fmt(value: float | None, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:,.2f}{unit}"


def _mark(met: bool | None) -> str:
    return "–" if met is None else ("✅" if met else "❌")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _before_after(
    paired: e2e.PairedResult, sized: e2e.E2EResult, shakes: e2e.PairedResult
) -> list[str]:
    lines = ["", "| target | before µs CPU / op | after | after / before (median of cycles) |",
             "|---|---|---|---|"]  # fmt: skip
    for target in BASE_TARGETS:
        old = target + e2e.BASE_SUFFIX
        ratio = paired_ratio(paired, Goal(target, target, old, None))
        lines.append(
            f"| {target}, 32 B | {_fmt(paired.median(old, 'server_us_per_op'))} | "
            f"{_fmt(paired.median(target, 'server_us_per_op'))} | {_fmt(ratio, '×')} |"
        )
    before = sized.median("raw@serve" + e2e.BASE_SUFFIX, "rt50_64k", "server_us_per_op")
    after = sized.median("raw@serve", "rt50_64k", "server_us_per_op")
    ratio = None if before is None or after is None else after / before
    lines.append(
        f"| raw@serve, 64 KiB (median of rounds) | {_fmt(before)} | {_fmt(after)} | "
        f"{_fmt(ratio, '×')} |"
    )
    old = "raw@serve" + e2e.BASE_SUFFIX
    ratio = paired_ratio(shakes, Goal("handshake", "raw@serve", old, None))
    lines.append(
        f"| raw@serve, handshake | {_fmt(shakes.median(old, 'server_us_per_op'))} | "
        f"{_fmt(shakes.median('raw@serve', 'server_us_per_op'))} | {_fmt(ratio, '×')} |"
    )
    return lines


def run(
    *,
    quick: bool,
    cycles: int,
    rounds: int,
    base_tree: Path | None = None,
    scale_settings: ScaleSettings | None = None,
) -> tuple[str, dict[str, Any]]:
    """Run every part; return the Markdown report and the figures.

    With ``base_tree`` (a copy of the tree before a change) the trio_ws targets also run from
    there. ``scale_settings`` ``None`` leaves the scale part out (its goals say so).
    """
    cycles, seconds, rounds, duration = (3, 0.3, 1, 0.5) if quick else (cycles, 0.4, rounds, 1.5)
    results_dir = ROOT / "results"
    paired_targets: tuple[str, ...] = PAIRED_TARGETS
    sized_targets: tuple[str, ...] = SIZED_TARGETS
    handshake_targets: tuple[str, ...] = HANDSHAKE_TARGETS
    if base_tree is not None:
        os.environ[e2e.BASE_TREE_VARIABLE] = str(base_tree.resolve())
        paired_targets += tuple(t + e2e.BASE_SUFFIX for t in BASE_TARGETS)
        sized_targets += ("raw@serve" + e2e.BASE_SUFFIX,)
        handshake_targets += ("raw@serve" + e2e.BASE_SUFFIX,)
    log(f"paired: {len(paired_targets)} servers, {cycles} cycles x {seconds} s")
    paired = e2e.run_paired(
        cycles=cycles, seconds=seconds, results_dir=results_dir, targets=paired_targets,
        progress=log,
    )  # fmt: skip
    log(f"handshakes: {len(handshake_targets)} servers, {cycles} cycles x {seconds} s")
    shakes = e2e.run_paired(
        cycles=cycles,
        seconds=seconds,
        results_dir=results_dir,
        targets=handshake_targets,
        progress=log,
        handshakes=True,
    )
    log(f"sized: 64 KiB, {rounds} round(s) x {duration} s")
    sized = e2e.run(
        rounds=rounds,
        duration=duration,
        count=200,
        idle=200,
        results_dir=results_dir,
        targets=sized_targets,
        scenarios=("rt50_64k",),
        progress=log,
    )
    figures: dict[str, Any] = {"paired": {}, "sized": {}}
    lines = [
        "| goal | bound | figure | server µs CPU per op (target vs baseline), or detail | met |",
        "|---|---|---|---|---|",
    ]
    for goal in PAIRED_GOALS:
        ratio = paired_ratio(paired, goal)
        cpu = paired.median(goal.target, "server_us_per_op")
        base = paired.median(goal.base, "server_us_per_op")
        lines.append(
            f"| {goal.label} | {goal.bound()} | {_fmt(ratio, '×')} | {_fmt(cpu)} vs "
            f"{_fmt(base)} | {_mark(goal.met(ratio))} |"
        )
        figures["paired"][goal.label] = {"ratio": ratio, "target_us": cpu, "base_us": base}
    for goal, scenario in SIZED_GOALS:
        cpu = sized.median(goal.target, scenario, "server_us_per_op")
        base = sized.median(goal.base, scenario, "server_us_per_op")
        ratio = None if cpu is None or base is None else cpu / base
        lines.append(
            f"| {goal.label} | {goal.bound()} | {_fmt(ratio, '×')} | {_fmt(cpu)} vs "
            f"{_fmt(base)} | {_mark(goal.met(ratio))} |"
        )
        figures["sized"][goal.label] = {"ratio": ratio, "target_us": cpu, "base_us": base}
    goal = HANDSHAKE_GOAL
    ratio = paired_ratio(shakes, goal)
    cpu, base = (shakes.median(t, "server_us_per_op") for t in (goal.target, goal.base))
    lines.append(
        f"| {goal.label} | {goal.bound()} | {_fmt(ratio, '×')} | {_fmt(cpu)} vs "
        f"{_fmt(base)} | {_mark(goal.met(ratio))} |"
    )
    figures["handshake"] = {goal.label: {"ratio": ratio, "target_us": cpu, "base_us": base}}
    scale_notes: list[str] = []
    if scale_settings is None:
        lines += [_row(goal, "–", "not measured", "left out (--skip-scale)", None)
                  for goal in SCALE_GOALS]  # fmt: skip
    else:
        rows, figures["scale"], scale_notes = scale_rows(scale_settings, results_dir / "scale.log")
        lines += rows
    lines += ["", "| server | 50 × 32 B: server µs CPU / rt (median) | round trips/s (median) |",
              "|---|---|---|"]  # fmt: skip
    for target in PAIRED_TARGETS:
        us, rate = (paired.median(target, key) for key in ("server_us_per_op", "rate"))
        lines.append(f"| {target} | {_fmt(us)} | {_fmt(rate)} |")
    if base_tree is not None:
        lines += _before_after(paired, sized, shakes)
    missing = [t for t in paired_targets if t not in paired.cycles]
    notes = [
        f"paired: {cycles} cycles × {seconds} s slices, client CPU {paired.client_cpu_pct:.0f} %"
        f" of its wall time (handshakes: {shakes.client_cpu_pct:.0f} %); 64 KiB: {rounds} "
        f"interleaved round(s) × {duration} s."
    ]
    if paired.error:
        notes.append(f"paired run failed: {paired.error}")
    if shakes.error:
        notes.append(f"paired handshake run failed: {shakes.error}")
    if missing:
        notes.append(f"not measured (unavailable here): {', '.join(missing)}")
    for (target, scenario), errors in sized.errors.items():
        notes.append(f"{target} {scenario}: {errors[0]}")
    notes += scale_notes
    figures["per_target"] = {t: paired.cycles.get(t) for t in paired_targets}
    return "\n".join(lines) + "\n\n" + "\n".join(notes), figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.versus", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run, not a measurement")
    parser.add_argument("--cycles", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--base", type=Path, help="a copy of the tree before a change")
    parser.add_argument(
        "--skip-scale", action="store_true", help="leave out the idle and fan-out goals"
    )
    args = parser.parse_args(argv)
    settings = None if args.skip_scale else QUICK_SCALE if args.quick else ScaleSettings()
    text, figures = run(
        quick=args.quick,
        cycles=args.cycles,
        rounds=args.rounds,
        base_tree=args.base,
        scale_settings=settings,
    )
    print(text)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

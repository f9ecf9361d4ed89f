"""Where trio_ws's per-message time goes: ablations and a cProfile attribution.

``python -m bench.profile [--n N] [--rounds R]`` measures in process (as :mod:`bench.inprocess`)
a few *probe* variants next to raw, direct and structured, interleaved, and prints µs per
message and the difference to raw:

- ``raw+shield``: the raw application with each ASGI send in ``trio.CancelScope(shield=True)``
  (the price of the shield alone, in context);
- ``direct+cancel_safe_send`` / ``structured+cancel_safe_send``: trio_ws with the scope
  declaring the ``trio_ws.cancel_safe_send`` extension, so that it skips its shield (the
  harness's memory-channel send is cancel-safe, so the declaration is true here);
- ``proto-direct`` / ``proto-structured``: the sketches in :mod:`bench.prototypes`.

Then it runs trio_ws direct under cProfile and attributes its time per message to the
functions that own it (the profiled share of each, applied to the unprofiled µs per message).
Finally it opens 1,000 idle connections per variant in process and reports, with
``tracemalloc``, the Python memory each one holds and the allocation sites that differ.

Nothing here changes trio_ws.
"""

# ruff: noqa: RUF001
from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import statistics
import time
import tracemalloc
from typing import TYPE_CHECKING, Any

import trio
import trio.testing

from . import apps, inprocess, prototypes

if TYPE_CHECKING:
    from .apps import Receive, Scope, Send


async def raw_shielded(scope: Scope, receive: Receive, send: Send) -> None:
    """``apps.raw`` with every send in a shielded cancel scope."""

    async def shielded_send(message: apps.Message) -> None:
        with trio.CancelScope(shield=True):
            await send(message)

    await apps.raw(scope, receive, shielded_send)


#: The scope extension by which a server tells trio_ws that its ``send`` is cancel-safe (so
#: trio_ws skips its shield). The in-process harness's send is a memory-channel send, which
#: is: cancelled, it has sent nothing.
CANCEL_SAFE_SEND = "trio_ws.cancel_safe_send"


def cancel_safe_send_supported() -> bool:
    try:
        from trio_ws import _protocol
    except ImportError:
        return False
    return getattr(_protocol, "CANCEL_SAFE_SEND_EXTENSION", None) == CANCEL_SAFE_SEND


def _app(variant: str) -> apps.ASGIApp | None:
    if variant == "raw+shield":
        return raw_shielded
    if variant == "proto-direct":
        return prototypes.lean_direct_app
    if variant == "proto-structured":
        return prototypes.token_structured_app
    return apps.get_app(variant)


PROBES: dict[str, tuple[str, bool]] = {
    # name: (variant, the scope declares trio_ws.cancel_safe_send: no shield)
    "raw": ("raw", False),
    "raw+shield": ("raw+shield", False),
    "direct": ("direct", False),
    "direct+cancel_safe_send": ("direct", True),
    "structured": ("structured", False),
    "structured+cancel_safe_send": ("structured", True),
    "proto-direct": ("proto-direct", False),
    "proto-structured": ("proto-structured", False),
}


def run_probe(name: str, workload: str, kind: str, n: int) -> float | None:
    """µs of CPU per message for one probe, or None if it cannot run here."""
    variant, cancel_safe = PROBES[name]
    app = _app(variant)
    if app is None or (cancel_safe and not cancel_safe_send_supported()):
        return None
    gc.collect()
    extensions = (CANCEL_SAFE_SEND,) if cancel_safe else ()
    elapsed = trio.run(inprocess.drive, app, workload, kind, n, extensions)
    return elapsed / n * 1e6


def ablation(n: int, rounds: int, workloads: tuple[str, ...]) -> dict[tuple[str, str], float]:
    """Median µs per message by ``(workload, probe)``, probes interleaved in every round."""
    samples: dict[tuple[str, str], list[float]] = {}
    names = list(PROBES)
    for name in names:
        run_probe(name, "pingpong", "text", min(n, 500))  # warm-up
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for workload in workloads:
            for name in order:
                value = run_probe(name, workload, "text", n)
                if value is not None:
                    samples.setdefault((workload, name), []).append(value)
    return {key: statistics.median(values) for key, values in samples.items()}


def attribute(variant: str, workload: str, n: int, top: int = 14) -> list[tuple[str, float]]:
    """Share of the profiled time (own time) per function, for one variant and workload."""
    app = apps.get_app(variant)
    assert app is not None
    profiler = cProfile.Profile()

    async def main() -> None:
        profiler.enable()
        await inprocess.drive(app, workload, "text", n)
        profiler.disable()

    trio.run(main)
    stats: Any = getattr(pstats.Stats(profiler), "stats")  # noqa: B009 - untyped attribute
    total = sum(entry[2] for entry in stats.values())  # tottime
    rows = []
    for (filename, line, func), entry in stats.items():
        short = filename.split("site-packages/")[-1].split("wt-bench/")[-1]
        rows.append((f"{short}:{line}({func})", entry[2] / total))
    rows.sort(key=lambda row: -row[1])
    return rows[:top]


def group_shares(variant: str, workload: str, n: int) -> dict[str, float]:
    """Profiled own time per package: trio_ws, trio core, channels, the harness."""
    app = apps.get_app(variant)
    assert app is not None
    profiler = cProfile.Profile()

    async def main() -> None:
        profiler.enable()
        await inprocess.drive(app, workload, "text", n)
        profiler.disable()

    trio.run(main)
    stats: Any = getattr(pstats.Stats(profiler), "stats")  # noqa: B009 - untyped attribute
    groups: dict[str, float] = {}
    total = 0.0
    for (filename, _line, func), entry in stats.items():
        if "trio_ws/" in filename:
            group = "trio_ws"
        elif "trio/_core/_run.py" in filename and func in ("__enter__", "_close", "__exit__"):
            group = "trio CancelScope enter/exit"
        elif "trio/_sync.py" in filename:
            group = "trio locks"
        elif "trio/_channel.py" in filename:
            group = "trio memory channels"
        elif "trio/" in filename or "outcome/" in filename:
            group = "trio scheduler and other"
        elif "bench/" in filename:
            group = "bench harness and app"
        else:
            group = "other (contextlib, attrs, builtins)"
        groups[group] = groups.get(group, 0.0) + entry[2]
        total += entry[2]
    return {group: value / total for group, value in sorted(groups.items(), key=lambda g: -g[1])}


async def _hold_idle(app: apps.ASGIApp, count: int) -> tuple[int, tracemalloc.Snapshot]:
    """Open ``count`` accepted connections that echoed once; bytes allocated meanwhile."""
    inprocess_scope = inprocess.make_scope("/echo/text")
    payload = {"type": "websocket.receive", "text": "hello", "bytes": None}
    async with trio.open_nursery() as nursery:
        clients = []
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(count):
            to_app, inbox = trio.open_memory_channel[apps.Message](inprocess.QUEUE_SIZE)
            outbox, from_app = trio.open_memory_channel[apps.Message](inprocess.QUEUE_SIZE)
            nursery.start_soon(app, dict(inprocess_scope), inbox.receive, outbox.send)
            await to_app.send({"type": "websocket.connect"})
            await from_app.receive()  # accept
            await to_app.send(dict(payload))
            await from_app.receive()  # the echo: the app is past accept, in its receive
            clients.append((to_app, from_app))
        await trio.testing.wait_all_tasks_blocked()
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - before
        snapshot = tracemalloc.take_snapshot()
        for to_app, _ in clients:
            await to_app.send({"type": "websocket.disconnect", "code": 1000})
    return used, snapshot


def memory_breakdown(count: int = 1000, top: int = 12) -> None:
    """Print KiB per idle connection per variant, and the extra allocation sites vs raw."""
    print(f"\n### Python memory per idle connection in process ({count} open, tracemalloc)\n")
    snapshots: dict[str, tracemalloc.Snapshot] = {}
    per_conn: dict[str, float] = {}
    for variant in (*apps.VARIANTS, "proto-direct", "proto-structured"):
        app = _app(variant)
        if app is None:
            continue
        tracemalloc.start(1)
        try:
            used, snapshot = trio.run(_hold_idle, app, count)
        finally:
            tracemalloc.stop()
        snapshots[variant] = snapshot
        per_conn[variant] = used / count / 1024
    raw = per_conn.get("raw")
    for variant, kib in per_conn.items():
        extra = f" ({kib - raw:+.2f} KiB vs raw)" if raw is not None and variant != "raw" else ""
        print(f"- {variant}: {kib:.2f} KiB{extra}")
    for variant in ("direct", "structured", "proto-structured"):
        if variant not in snapshots or "raw" not in snapshots:
            continue
        print(f"\nBy file, {variant} minus raw (KiB per connection):\n")
        by_file = snapshots[variant].compare_to(snapshots["raw"], "filename")
        for stat in sorted(by_file, key=lambda s: -abs(s.size_diff))[:top]:
            where = stat.traceback[0].filename.split("site-packages/")[-1]
            print(f"- {stat.size_diff / count / 1024:+6.2f}  {where.split('wt-bench/')[-1]}")
        print(f"\nAllocation sites, {variant} minus raw (KiB per connection):\n")
        diff = snapshots[variant].compare_to(snapshots["raw"], "lineno")
        for stat in sorted(diff, key=lambda s: -s.size_diff)[:top]:
            frame = stat.traceback[0]
            where = frame.filename.split("site-packages/")[-1].split("wt-bench/")[-1]
            print(f"- {stat.size_diff / count / 1024:+6.2f}  {where}:{frame.lineno}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--memory-only", action="store_true", help="only the memory breakdown")
    args = parser.parse_args()
    started = time.monotonic()
    if args.memory_only:
        memory_breakdown()
        return
    workloads = ("pingpong", "stream", "sink")
    medians = ablation(args.n, args.rounds, workloads)
    print(f"### Ablation: µs of CPU per message, median of {args.rounds} rounds × {args.n}\n")
    names = list(PROBES)
    print("| workload | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for workload in workloads:
        raw = medians.get((workload, "raw"))
        cells = []
        for name in names:
            value = medians.get((workload, name))
            if value is None or raw is None:
                cells.append("n/a")
            elif name == "raw":
                cells.append(f"{value:.1f}")
            else:
                cells.append(f"{value:.1f} ({value - raw:+.1f}; {raw / value:.2f}×)")
        print(f"| {workload} | " + " | ".join(cells) + " |")
    for variant in ("direct", "structured"):
        if apps.get_app(variant) is None:
            continue
        for workload in ("pingpong", "stream"):
            per_message = medians.get((workload, variant))
            print(f"\n### cProfile own-time shares, {variant} {workload} text")
            print(f"(× {per_message:.1f} µs per message unprofiled)\n" if per_message else "\n")
            for group, share in group_shares(variant, workload, args.n).items():
                us = f"≈ {share * per_message:.1f} µs" if per_message else ""
                print(f"- {group}: {share * 100:.0f}% {us}")
            print("\nTop functions (own time):\n")
            for func, share in attribute(variant, workload, args.n):
                us = f"≈ {share * per_message:.2f} µs" if per_message else ""
                print(f"- {share * 100:4.1f}% {us}  {func}")
    memory_breakdown()
    print(f"\nTotal time {time.monotonic() - started:.0f} s.")


if __name__ == "__main__":
    main()

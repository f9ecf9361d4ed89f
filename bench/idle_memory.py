"""Memory per idle connection on ``trio_ws.serve`` (issue #16: at most 12 KiB):
``python -m bench.idle_memory [--count N] [--rounds R] [--base DIR]``.

The server is the one of ``bench.scale --parts idle``: ``trio_ws.serve`` with its production
pings and read timeout, serving the direct-mode echo application; a client process opens
``--count`` connections that each echo one message, then stay idle (the application waits in
``receive``). Figures per server, each from a fresh server process:

* its RSS growth per connection, after a warm-up of 50 connections (as ``bench.scale``
  measures it), the median of ``--rounds`` servers;
* in one more server with ``tracemalloc`` on (``--traced`` connections, 1,000: tracing slows
  handshakes down several times), the Python memory per connection and who keeps it: trio's
  task and the socket, the parked read (trio's wait and epoll registration),
  ``trio_ws.serve``'s own objects and the scope, the engine connection, websockets' protocol,
  the direct ``WebSocket``, and the application's own frames.

``--base DIR`` (a copy of an older tree: ``git archive <commit> | tar -x -C DIR``) serves the
same from there, interleaved with this tree in every round, so before and after come from the
same run. Never part of CI (``tests/test_bench_idle_memory_smoke.py`` runs it tiny).
"""

# The tables print × on purpose.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import tracemalloc
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .scale import Proc

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 50
#: Who keeps the Python memory of an idle connection, in the table's order.
OWNERS = (
    "trio: the task and the socket",
    "trio: the parked read (wait, epoll registration)",
    "serve's objects and the scope",
    "engine connection",
    "websockets' protocol",
    "WebSocket (direct mode)",
    "the application's frames",
    "other",
)
_SERVE_FILES = ("trio_ws/_serve.py", "trio_ws/_engine/_scope.py", "trio_ws/_accept.py")
_WEBSOCKET_FILES = (
    "trio_ws/_websocket.py",
    "trio_ws/_protocol.py",
    "trio_ws/_link.py",
    "trio_ws/_scope_view.py",
    "trio_ws/_send_turn.py",
)


def owner(filenames: list[str]) -> str:
    """Who keeps an allocation, from its traceback's file names (innermost last)."""
    innermost = filenames[-1]
    for name in reversed(filenames):
        ours = "/trio_ws/" in name or "/bench/apps.py" in name
        if not ours:
            continue
        if "/websockets/" in innermost:
            return OWNERS[4]
        if "/trio/" in innermost:
            return OWNERS[1] if name.endswith("_transport.py") else OWNERS[0]
        if name.endswith("bench/apps.py"):
            return OWNERS[6]
        if name.endswith(_WEBSOCKET_FILES):
            return OWNERS[5]
        if name.endswith(_SERVE_FILES):
            return OWNERS[2]
        return OWNERS[3]
    return OWNERS[4] if "/websockets/" in innermost else OWNERS[7]


# ------------------------------------------------------------------------------- the server


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def serve_main(trace: bool) -> None:
    """Serve on a free port and answer ``mark`` / ``measure COUNT`` lines on stdin."""
    import trio

    import trio_ws
    from bench.apps import get_app

    async def commands(port: int) -> None:
        print(f"PORT {port}", flush=True)
        marked: tracemalloc.Snapshot | None = None
        while line := (await trio.to_thread.run_sync(sys.stdin.readline)).split():
            await trio.sleep(0.5)  # the handshakes' tail
            gc.collect()
            answer: dict[str, Any] = {"rss": _rss()}
            if trace and line[0] == "mark":
                marked = tracemalloc.take_snapshot()
            elif trace and marked is not None:
                groups = dict.fromkeys(OWNERS, 0)
                stats = tracemalloc.take_snapshot().compare_to(marked, "traceback")
                for stat in stats:
                    groups[owner([frame.filename for frame in stat.traceback])] += stat.size_diff
                answer["groups"] = groups
            print(json.dumps(answer), flush=True)

    async def main() -> None:
        app = get_app("direct")
        async with trio.open_nursery() as nursery:
            # trio_ws.serve's production defaults: pings every 20 s, read timeout 60 s
            urls = await nursery.start(partial(trio_ws.serve, app, "127.0.0.1", 0))
            await commands(int(urls[0].rsplit(":", 1)[1]))
            nursery.cancel_scope.cancel()

    if trace:
        tracemalloc.start(30)
    trio.run(main)


# ------------------------------------------------------------------------------- the run


@contextlib.contextmanager
def _process(args: list[str], cwd: Path, env: dict[str, str], log: Any) -> Iterator[Proc]:
    from .scale import Proc  # (not at the top: a server runs this file as a script)

    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        yield Proc(proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def measure(tree: Path, count: int, *, trace: bool, log: Any) -> dict[str, Any]:
    """One server from ``tree``: RSS per connection (and the owners' bytes with ``trace``)."""
    server_args = [str(ROOT / "bench" / "idle_memory.py"), "--serve", "trace" if trace else "rss"]
    # the server imports trio_ws and bench.apps from ``tree``; the clients are this tree's
    with _process(server_args, tree, {"PYTHONPATH": str(tree)}, log) as server:
        port = server.line(30).split()[1]
        client = ["-m", "bench.scale", "--client", "idle", port]
        root = {"PYTHONPATH": str(ROOT)}
        with _process([*client, str(WARM_UP)], ROOT, root, log) as warm:
            warm.line(60)
            warm.ask("close", 30)
        before = server.ask("mark", 60)
        with _process([*client, str(count)], ROOT, root, log) as idle:
            ready = json.loads(idle.line(count / (10 if trace else 50) + 120))
            after = server.ask("measure", 120)
            idle.ask("close", 60)
    if ready.get("echoed") != count:
        raise RuntimeError(f"{tree}: only {ready} of {count} connections echoed")
    result: dict[str, Any] = {"rss_kib": (after["rss"] - before["rss"]) / count / 1024}
    if trace:
        result["groups"] = {name: size / count for name, size in after["groups"].items()}
    return result


def run(count: int, rounds: int, base: Path | None, logs: Path, traced: int = 1_000) -> str:
    """Every round, a server per tree in turn; then one traced server per tree, with
    ``traced`` connections (tracing slows handshakes down several times). The table."""
    trees = {"this tree": ROOT} if base is None else {"before (--base)": base, "after": ROOT}
    rss: dict[str, list[float]] = {name: [] for name in trees}
    groups: dict[str, dict[str, float]] = {}
    with logs.open("w") as log:
        for r in range(rounds):
            for name, tree in trees.items():
                rss[name].append(measure(tree, count, trace=False, log=log)["rss_kib"])
                print(
                    f"[{time.strftime('%H:%M:%S')}] round {r}: {name} {rss[name][-1]:.2f} KiB",
                    file=sys.stderr,
                    flush=True,
                )
        for name, tree in trees.items():
            groups[name] = measure(tree, min(count, traced), trace=True, log=log)["groups"]
    return table(count, min(count, traced), rounds, rss, groups)


def table(
    count: int,
    traced: int,
    rounds: int,
    rss: dict[str, list[float]],
    groups: dict[str, dict[str, float]],
) -> str:
    names = list(rss)
    lines = [
        f"#### Memory per idle connection on trio_ws.serve ({count:,} connections, direct mode)",
        "",
        f"RSS growth per connection, KiB: median of {rounds} servers each (min–max); goal ≤ 12",
        "",
        "| server | KiB per connection |",
        "|---|---|",
    ]
    for name in names:
        values = rss[name]
        lines.append(
            f"| {name} | {statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f}) |"
        )
    if len(names) == 2:
        # A tiny smoke run can see no RSS growth at all: no ratio then, rather than a crash.
        ratios = [a / b for a, b in zip(rss[names[1]], rss[names[0]], strict=True) if b > 0]
        ratio = f"{statistics.median(ratios):.3f}×" if ratios else "– (no growth measured)"
        lines.append(f"| after / before, median of the rounds | {ratio} |")
    lines += [
        "",
        f"Python memory per connection (tracemalloc, {traced:,} connections), bytes, by who "
        "keeps it (an object counts for the code that made it):",
        "",
        "| kept by | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for kept_by in OWNERS:
        cells = " | ".join(f"{groups[name].get(kept_by, 0):,.0f}" for name in names)
        lines.append(f"| {kept_by} | {cells} |")
    totals = " | ".join(f"**{sum(groups[name].values()) / 1024:.2f} KiB**" for name in names)
    lines.append(f"| total | {totals} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.idle_memory", description=__doc__)
    parser.add_argument("--serve", choices=("rss", "trace"), help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=5_000, help="idle connections")
    parser.add_argument("--rounds", type=int, default=3, help="RSS servers per tree")
    parser.add_argument("--traced", type=int, default=1_000, help="traced server's connections")
    parser.add_argument("--base", type=Path, help="a copy of the tree before a change")
    parser.add_argument("--quick", action="store_true", help="a smoke run, not a measurement")
    args = parser.parse_args(argv)
    if args.serve:
        serve_main(trace=args.serve == "trace")
        return 0
    if args.quick:
        args.count, args.rounds = 100, 1
    logs = ROOT / "bench" / "results" / "idle_memory.log"
    logs.parent.mkdir(parents=True, exist_ok=True)
    print(run(args.count, args.rounds, args.base, logs, args.traced))
    return 0


if __name__ == "__main__":
    if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
        del sys.path[0]  # run as a script (a server): import bench and trio_ws from PYTHONPATH
    raise SystemExit(main())

"""``python -m bench.presence [--quick]``: presence churn (joins + leaves per second).

In one trio process, for each backend (``memory://``, a real redis-server and, with
``--backends memory,redis,cluster``, a real 3-master Redis Cluster, both started here):
``--population`` members stay tracked in the channel the whole time (their heartbeats and the
channel's snapshots run meanwhile), one watcher iterates the channel's diffs, and
``--churners`` tasks each enter and leave ``broadcast.track(...)`` in a loop until ``--ops``
track blocks have run (each one join and one leave: two changes). Reported per backend:

* **changes/s**: ``2 * ops`` over the time the churners took;
* **CPU per change**: this process's CPU time over the same changes (redis-server's excluded);
* **watcher caught up**: the time from the last leave until the watcher had received every
  change as a diff (on Redis the watcher uses a second ``Broadcast``, i.e. its own
  connection, replica and subscription: the path another worker process takes);
* the **baseline**, measured in the same run with the same concurrency: as many
  ``broadcast.publish`` calls as changes, and the ratio churn/publish.

Rounds interleave the backends and the baseline; medians are printed. Never part of CI;
``tests/broadcast/test_presence_bench.py`` runs it tiny.
"""

# The tables print × and µs on purpose.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

import trio

from trio_ws import Broadcast

from .broadcast import _redis_server

CHANNEL = "bench.presence"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def _churn(url: str, ops: int, churners: int, population: int) -> dict[str, float]:
    """One presence round: changes/s, CPU µs per change, watcher catch-up seconds."""
    expected = 2 * ops
    async with AsyncExitStack() as stack:
        broadcast = await stack.enter_async_context(Broadcast(url))
        other = broadcast
        if not url.startswith("memory"):
            other = await stack.enter_async_context(Broadcast(url))
        watcher = await stack.enter_async_context(
            other.track(CHANNEL, "watcher", buffer=expected + population + 16)
        )
        for n in range(population):
            await stack.enter_async_context(broadcast.track(CHANNEL, f"resident{n}", {"n": n}))
        with trio.fail_after(60):
            while len(watcher.list()) < population + 1:
                async for _ in watcher.diffs():
                    break
        seen = 0
        all_seen = trio.Event()
        done_at = 0.0

        async def watch() -> None:
            nonlocal seen
            async for diff in watcher.diffs():
                seen += sum(len(m) for m in diff.joins.values())
                seen += sum(len(m) for m in diff.leaves.values())
                if seen >= expected:
                    all_seen.set()
                    return

        remaining = ops

        async def churner(index: int) -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with broadcast.track(CHANNEL, f"churner{index}", {"i": index}):
                    pass

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            async with trio.open_nursery() as workers:
                for index in range(churners):
                    workers.start_soon(churner, index)
            wall1, cpu1 = time.perf_counter(), time.process_time()
            with trio.fail_after(60):
                await all_seen.wait()
            done_at = time.perf_counter()
        assert watcher.statistics().dropped == 0
        return {
            "rate": expected / (wall1 - wall0),
            "cpu_us": (cpu1 - cpu0) / expected * 1e6,
            "caught_up": done_at - wall1,
        }


async def _publish(url: str, count: int, concurrency: int) -> dict[str, float]:
    """The baseline: ``count`` publishes on one channel with ``concurrency`` tasks."""
    async with Broadcast(url) as broadcast, broadcast.subscribe(CHANNEL, buffer=16) as _:
        remaining = count

        async def publisher() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await broadcast.publish(CHANNEL, '{"e":"x","j":[],"l":[]}')

        cpu0, wall0 = time.process_time(), time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(publisher)
        wall1, cpu1 = time.perf_counter(), time.process_time()
    return {"rate": count / (wall1 - wall0), "cpu_us": (cpu1 - cpu0) / count * 1e6}


def run(ops: int, churners: int, population: int, rounds: int, backends: list[str]) -> str:
    """Interleaved rounds of every backend and its baseline; a Markdown table of medians."""
    with _redis_server() as redis_url, contextlib.ExitStack() as stack:
        urls = {"memory": "memory://", "redis": redis_url}
        if "cluster" in backends:
            from tests.broadcast._cluster import LocalCluster, cluster_tools_missing

            missing = cluster_tools_missing()
            if missing:
                raise SystemExit(f"bench.presence cluster: {missing}")
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            urls["cluster"] = stack.enter_context(LocalCluster(directory, masters=3)).url
        churn: dict[str, list[dict[str, float]]] = {name: [] for name in backends}
        base: dict[str, list[dict[str, float]]] = {name: [] for name in backends}
        for round_number in range(rounds):
            for name in backends:
                log(f"round {round_number + 1}/{rounds}: {name} presence")
                churn[name].append(trio.run(_churn, urls[name], ops, churners, population))
                log(f"round {round_number + 1}/{rounds}: {name} publish (baseline)")
                base[name].append(trio.run(_publish, urls[name], 2 * ops, churners))

    def median(samples: list[dict[str, float]], field: str) -> float:
        return statistics.median(sample[field] for sample in samples)

    lines = [
        f"Presence churn: {ops:,} track blocks (join + leave) by {churners} tasks, "
        f"{population:,} members staying, one watcher; medians of {rounds} rounds.",
        "",
        "| backend | changes/s | CPU per change | watcher caught up | publish/s (baseline) "
        "| CPU per publish | churn/publish |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in backends:
        rate = median(churn[name], "rate")
        base_rate = median(base[name], "rate")
        lines.append(
            f"| {name} | {rate:,.0f} | {median(churn[name], 'cpu_us'):,.0f} µs "
            f"| {median(churn[name], 'caught_up') * 1000:,.1f} ms | {base_rate:,.0f} "
            f"| {median(base[name], 'cpu_us'):,.0f} µs | {rate / base_rate:.2f}× |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.presence", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--ops", type=int, help="track blocks per round (5,000)")
    parser.add_argument("--churners", type=int, default=50, help="concurrent tasks (50)")
    parser.add_argument("--population", type=int, help="members staying (1,000)")
    parser.add_argument("--rounds", type=int, help="rounds (5)")
    parser.add_argument("--backends", default="memory,redis,cluster")
    args = parser.parse_args(argv)
    print(
        run(
            args.ops or (500 if args.quick else 5000),
            args.churners,
            args.population if args.population is not None else (100 if args.quick else 1000),
            args.rounds or (3 if args.quick else 5),
            [name for name in args.backends.split(",") if name],
        )
    )


if __name__ == "__main__":
    main()

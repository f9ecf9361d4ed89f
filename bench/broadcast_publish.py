"""``python -m bench.broadcast_publish [--parts sequential,chat,tasks]``: publishing from one
process to one Redis, before and after ``broadcast.publisher()`` (issue #18 req 5).

* **sequential** (the goal: >= 10,000 messages/s to one Redis): one task publishes
  ``--count`` messages of 32 B in a loop, each ``await``ed, with plain ``await
  broadcast.publish`` (before) and with ``async with broadcast.publisher() as p: await
  p.publish`` (after: pipelined, every answer checked at the end of the block). Rate: first
  publish to last acceptance. Memory is the reference; ``--cluster`` adds a 3-master cluster.
* **chat**: the chat server of the issue. A ``trio_ws.serve`` process whose sockets each
  ``forward`` the room and publish what they receive in a loop (before: ``await
  broadcast.publish``; after: through a ``publisher()`` block); one client socket sends
  ``--chat-count`` messages as fast as it can to 20 listening sockets. Figures: messages/s
  (the first send until every listener has every message) and the server's CPU per message,
  on memory (reference) and Redis.
* **tasks**: ``--tasks`` tasks publishing at once with plain ``publish`` (they share round
  trips through the batcher).

Starts its own redis-server (loopback, temp dir) and server processes; every wait is bounded.
Targets are interleaved round by round; the tables give medians and ratios from this run.
"""

# The tables print × and µs on purpose.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from bench.broadcast import ROOT, _redis_server, log
from trio_ws import Broadcast

if TYPE_CHECKING:
    from collections.abc import Iterator

GOAL = 10_000
PAYLOAD = "x" * 32
LISTENERS = 20
#: How long one chat round may take at most (seconds).
CHAT_ROUND_TIMEOUT = 120.0


# ---------------------------------------------------------------------------- sequential


async def sequential_rate(url: str, count: int, pipelined: bool) -> float:
    """Messages/s of one task publishing ``count`` messages in a loop."""
    async with Broadcast(url) as broadcast:
        started = time.perf_counter()
        if pipelined:
            async with broadcast.publisher() as publisher:
                for _ in range(count):
                    await publisher.publish("bench", PAYLOAD)
        else:
            for _ in range(count):
                await broadcast.publish("bench", PAYLOAD)
        return count / (time.perf_counter() - started)


def run_sequential(urls: dict[str, str], count: int, rounds: int) -> str:
    log(f"sequential: {rounds} interleaved rounds × {count:,} messages on {', '.join(urls)}")
    rates: dict[tuple[str, bool], list[float]] = {
        (name, pipelined): [] for name in urls for pipelined in (False, True)
    }
    for _ in range(rounds):
        for name, pipelined in rates:
            rates[name, pipelined].append(trio.run(sequential_rate, urls[name], count, pipelined))
    lines = [
        f"### One task publishing in a loop ({count:,} messages of 32 B; median of {rounds} "
        "interleaved rounds)",
        "",
        "| backend | before: `await broadcast.publish` | after: `publisher()` | after/before |",
        "|---|---|---|---|",
    ]
    for name in urls:
        before = statistics.median(rates[name, False])
        after = statistics.median(rates[name, True])
        lines.append(f"| {name} | {before:,.0f}/s | {after:,.0f}/s | {after / before:.1f}× |")
    if "redis" in urls:
        after = statistics.median(rates["redis", True])
        verdict = "met" if after >= GOAL else "missed"
        lines += ["", f"Goal: ≥ {GOAL:,} messages/s from one process to one Redis: {verdict} "
                  f"({after:,.0f}/s; every round: "
                  f"{', '.join(f'{r:,.0f}' for r in rates['redis', True])})."]  # fmt: skip
    return "\n".join(lines)


# ---------------------------------------------------------------------------- chat server


def serve_chat(url: str, mode: str, room: str) -> None:  # pragma: no cover - server process
    """The chat server: ``/room`` sockets forward the room and publish what they receive."""
    from functools import partial

    import trio_ws

    async def main() -> None:
        async with trio_ws.Broadcast(url) as broadcast:

            async def member(ws: trio_ws.WebSocket) -> None:
                await ws.accept()
                ws.start_soon(partial(broadcast.forward, room, ws, buffer=1024, overflow="block"))
                if mode == "publisher":
                    async with broadcast.publisher() as publisher:
                        async for text in ws.iter_text():
                            await publisher.publish(room, text)
                else:
                    async for text in ws.iter_text():
                        await broadcast.publish(room, text)

            async with trio.open_nursery() as nursery:
                app = trio_ws.websocket_app(member)
                serve = partial(trio_ws.serve, app, "127.0.0.1", 0, ping_interval=None,
                                read_timeout=None, graceful_timeout=1.0)  # fmt: skip
                urls = await nursery.start(serve)
                print(f"PORT {urls[0].rsplit(':', 1)[1]}", flush=True)

    trio.run(main)


@contextlib.contextmanager
def _chat_server(url: str, mode: str, room: str) -> Iterator[tuple[int, int]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.broadcast_publish", "--serve", url, mode, room],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the {mode} chat server did not start: {line!r}")
        yield int(line.split()[1]), process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


async def _chat_round(port: int, pid: int, count: int) -> tuple[float, float]:
    """One burst: messages/s until every listener has all, and server CPU s per message."""
    import psutil  # type: ignore[import-untyped]

    from bench.loadclient import OP_TEXT, client_frame, close_all, open_many, process_cpu

    received = [0] * LISTENERS
    done = asyncio.get_running_loop().create_future()
    remaining = LISTENERS

    def counter(index: int) -> Any:
        def on_message(conn: Any, opcode: int, payload: bytes) -> None:
            nonlocal remaining
            received[index] += 1
            if received[index] == count:
                remaining -= 1
                if remaining == 0 and not done.done():
                    done.set_result(None)

        return on_message

    listeners = []
    for index in range(LISTENERS):
        listeners += await open_many(port, "/room", 1, counter(index))
    (sender,) = await open_many(port, "/room", 1)
    await asyncio.sleep(0.5)  # every forward subscribed
    server = psutil.Process(pid)
    frame = client_frame(OP_TEXT, PAYLOAD.encode(), sender.key)
    cpu_before = process_cpu(server)
    started = time.perf_counter()
    for _ in range(count // 100):
        sender.write(frame * 100)
        await asyncio.sleep(0)
    sender.write(frame * (count % 100))
    await asyncio.wait_for(done, CHAT_ROUND_TIMEOUT)
    elapsed = time.perf_counter() - started
    cpu = process_cpu(server) - cpu_before
    await close_all([*listeners, sender])
    return count / elapsed, cpu / count


def run_chat(redis_url: str, count: int, rounds: int) -> str:
    log(f"chat: {rounds} interleaved rounds × {count:,} messages to {LISTENERS} listeners")
    targets = [("memory", "plain"), ("memory", "publisher"), ("redis", "plain"),
               ("redis", "publisher")]  # fmt: skip
    results: dict[tuple[str, str], list[tuple[float, float]]] = {t: [] for t in targets}
    with contextlib.ExitStack() as stack:
        urls = {"memory": "memory://", "redis": redis_url}
        servers = {
            (backend, mode): stack.enter_context(
                _chat_server(urls[backend], mode, f"room-{backend}-{mode}")
            )
            for backend, mode in targets
        }
        for _ in range(rounds):
            for target in targets:
                port, pid = servers[target]
                results[target].append(asyncio.run(_chat_round(port, pid, count)))
                log(f"chat: {target}: {results[target][-1][0]:,.0f}/s")
    rows = {t: (statistics.median(r[0] for r in results[t]),
                statistics.median(r[1] for r in results[t])) for t in targets}  # fmt: skip
    label = {"plain": "before: `await broadcast.publish`", "publisher": "after: `publisher()`"}
    lines = [
        f"### Chat server: one socket sends {count:,} messages of 32 B to {LISTENERS} listening "
        f"sockets (median of {rounds} interleaved rounds)",
        "",
        "| backend | publish loop | messages/s | server CPU per message |",
        "|---|---|---|---|",
    ]
    for backend, mode in targets:
        rate, cpu = rows[backend, mode]
        lines.append(f"| {backend} | {label[mode]} | {rate:,.0f} | {cpu * 1e6:,.0f} µs |")
    before, after = rows["redis", "plain"], rows["redis", "publisher"]
    lines += ["", f"Redis after/before: {after[0] / before[0]:.1f}× the messages/s, "
              f"{after[1] / before[1]:.2f}× the CPU per message; memory (reference) after: "
              f"{rows['memory', 'publisher'][0]:,.0f}/s."]  # fmt: skip
    return "\n".join(lines)


# ---------------------------------------------------------------------------- tasks


async def tasks_rate(url: str, count: int, tasks: int) -> float:
    """Messages/s of ``tasks`` tasks publishing at once, each awaiting its publishes."""
    async with Broadcast(url) as broadcast:
        per_task = count // tasks

        async def publisher() -> None:
            for _ in range(per_task):
                await broadcast.publish("bench", PAYLOAD)

        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(tasks):
                nursery.start_soon(publisher)
        return per_task * tasks / (time.perf_counter() - started)


def run_tasks(url: str, count: int, tasks: list[int]) -> str:
    lines = ["### Tasks publishing at once (plain `publish`)", "", "| tasks | messages/s |",
             "|---|---|"]  # fmt: skip
    for n in tasks:
        lines.append(f"| {n} | {trio.run(tasks_rate, url, count, n):,.0f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main


@contextlib.contextmanager
def _cluster_url() -> Iterator[str]:
    from tests.broadcast._cluster import LocalCluster, cluster_tools_missing

    missing = cluster_tools_missing()
    if missing:
        raise SystemExit(f"bench.broadcast_publish --cluster: {missing}")
    with (
        tempfile.TemporaryDirectory() as directory,
        LocalCluster(Path(directory), masters=3) as cluster,
    ):
        yield cluster.url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.broadcast_publish", description=__doc__)
    parser.add_argument("--parts", default="sequential,chat")
    parser.add_argument("--count", type=int, default=20_000, help="sequential messages")
    parser.add_argument("--chat-count", type=int, default=20_000, help="chat messages")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cluster", action="store_true", help="sequential: add a cluster")
    parser.add_argument("--tasks", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_chat(*args.serve)
        return
    parts = [part for part in args.parts.split(",") if part]
    sections = []
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(_redis_server())
        urls = {"memory": "memory://", "redis": redis_url}
        if args.cluster:
            urls["cluster"] = stack.enter_context(_cluster_url())
        if "sequential" in parts:
            sections.append(run_sequential(urls, args.count, args.rounds))
        if "chat" in parts:
            sections.append(run_chat(redis_url, args.chat_count, args.rounds))
        if "tasks" in parts:
            sections.append(run_tasks(redis_url, args.count, args.tasks))
    print("\n\n".join(sections))


if __name__ == "__main__":
    main()

"""``python -m bench.broadcast [--quick] [--parts fanout,e2e,redis]``: the Broadcast benchmarks.

* **fanout** (one trio process): 10,000 subscribers on one channel of ``Broadcast("memory://")``;
  deliveries per second (against a hand-written baseline: one trio memory channel per
  subscriber, ``send_nowait``), memory per subscriber (tracemalloc, in a separate pass), and the
  publisher's latency per ``publish`` while every subscriber reads vs while one never reads
  (``drop_oldest``), plus what ``overflow="block"`` does in the same spot.
* **e2e**: N real websocket clients (websockets' asyncio client, in this process) in one room
  of two servers, each in its own process: ``examples.broadcast_chat`` on ``trio_ws.serve``
  and a websockets Trio server whose handler calls ``websockets.trio.broadcast()``. One client
  sends a message; the time until every client has it. Rounds alternate between the servers.
  The clients' own CPU is inside the figure (the same for both servers).
* **redis**: messages per second from a publisher in this process to a subscriber in another,
  through a real redis-server: trio_ws ``Broadcast("redis://")`` against bare coredis
  (``client.publish`` / ``pubsub``) on the same server.

Never part of CI; ``tests/test_bench_smoke.py``-style smoke: ``tests/broadcast/test_bench.py``
runs each part tiny.
"""

# The tables print × and µs on purpose.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
import trio.testing

from trio_ws import Broadcast

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


# ---------------------------------------------------------------------------- fan-out


async def _deliveries_broadcast(subscribers: int, messages: int) -> float:
    """Seconds to deliver ``messages`` to ``subscribers`` readers through Broadcast."""
    remaining = subscribers
    all_done = trio.Event()
    async with Broadcast() as broadcast, AsyncExitStack() as stack:
        subs = [
            await stack.enter_async_context(broadcast.subscribe("c", buffer=messages))
            for _ in range(subscribers)
        ]

        async def read(sub: Any) -> None:
            nonlocal remaining
            count = 0
            async for _ in sub:
                count += 1
                if count == messages:
                    break
            remaining -= 1
            if remaining == 0:
                all_done.set()

        async with trio.open_nursery() as nursery:
            for sub in subs:
                nursery.start_soon(read, sub)
            await trio.testing.wait_all_tasks_blocked()
            started = time.perf_counter()
            for n in range(messages):
                await broadcast.publish("c", f"message {n}")
            await all_done.wait()
            return time.perf_counter() - started


async def _deliveries_channels(subscribers: int, messages: int) -> float:
    """The same with one trio memory channel per subscriber (the hand-written way)."""
    remaining = subscribers
    all_done = trio.Event()
    pairs = [trio.open_memory_channel[str](messages) for _ in range(subscribers)]

    async def read(receive: trio.MemoryReceiveChannel[str]) -> None:
        nonlocal remaining
        count = 0
        async for _ in receive:
            count += 1
            if count == messages:
                break
        remaining -= 1
        if remaining == 0:
            all_done.set()

    async with trio.open_nursery() as nursery:
        for _, receive in pairs:
            nursery.start_soon(read, receive)
        await trio.testing.wait_all_tasks_blocked()
        started = time.perf_counter()
        for n in range(messages):
            await trio.lowlevel.checkpoint()
            text = f"message {n}"
            for send, _ in pairs:
                try:
                    send.send_nowait(text)
                except trio.WouldBlock:
                    pass
        await all_done.wait()
        elapsed = time.perf_counter() - started
    for send, receive in pairs:
        send.close()
        receive.close()
    return elapsed


async def _memory_per_subscriber(subscribers: int) -> tuple[float, float]:
    """Bytes per subscription (tracemalloc), without and with a reader task parked on it."""
    async with Broadcast() as broadcast, AsyncExitStack() as stack:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        subs = [
            await stack.enter_async_context(broadcast.subscribe("c")) for _ in range(subscribers)
        ]
        alone = (tracemalloc.get_traced_memory()[0] - before) / subscribers
        async with trio.open_nursery() as nursery:

            async def read(sub: Any) -> None:
                async for _ in sub:
                    pass

            for sub in subs:
                nursery.start_soon(read, sub)
            await trio.testing.wait_all_tasks_blocked()
            with_task = (tracemalloc.get_traced_memory()[0] - before) / subscribers
            tracemalloc.stop()
            nursery.cancel_scope.cancel()
    return alone, with_task


async def _publish_latencies(subscribers: int, messages: int, stalled: bool) -> list[float]:
    """Seconds per publish() with ``subscribers`` readers, one of them never reading."""
    async with Broadcast() as broadcast, AsyncExitStack() as stack:
        subs = [
            await stack.enter_async_context(broadcast.subscribe("c")) for _ in range(subscribers)
        ]
        readers = subs[1:] if stalled else subs
        latencies: list[float] = []
        async with trio.open_nursery() as nursery:

            async def read(sub: Any) -> None:
                async for _ in sub:
                    pass

            for sub in readers:
                nursery.start_soon(read, sub)
            await trio.testing.wait_all_tasks_blocked()
            for n in range(messages):
                started = time.perf_counter()
                await broadcast.publish("c", f"message {n}")
                latencies.append(time.perf_counter() - started)
                await trio.testing.wait_all_tasks_blocked()  # let the readers catch up
            if stalled:
                assert subs[0].statistics().dropped == max(0, messages - 256)
            nursery.cancel_scope.cancel()
    return latencies


async def _block_policy_stalls(messages: int) -> int:
    """How many publishes return before one ``block`` subscriber that never reads stops them."""
    published = 0
    async with Broadcast() as broadcast, broadcast.subscribe("c", overflow="block"):
        with trio.move_on_after(1):
            for n in range(messages):
                await broadcast.publish("c", f"message {n}")
                published += 1
    return published


def run_fanout(subscribers: int, messages: int, rounds: int) -> str:
    log(f"fanout: {rounds} rounds × {subscribers} subscribers × {messages} messages")
    ours: list[float] = []
    baseline: list[float] = []
    for _ in range(rounds):
        ours.append(trio.run(_deliveries_broadcast, subscribers, messages))
        baseline.append(trio.run(_deliveries_channels, subscribers, messages))
    deliveries = subscribers * messages
    ours_rate = deliveries / statistics.median(ours)
    base_rate = deliveries / statistics.median(baseline)
    alone, with_task = trio.run(_memory_per_subscriber, subscribers)
    latency_messages = max(300, messages)
    log(f"fanout: publisher latency, {latency_messages} publishes, with and without a stall")
    reading = trio.run(_publish_latencies, subscribers, latency_messages, False)
    stalled = trio.run(_publish_latencies, subscribers, latency_messages, True)
    block = trio.run(_block_policy_stalls, 300)
    p50_ratio = statistics.median(stalled) / statistics.median(reading)
    return "\n".join(
        [
            f"### Fan-out in process ({subscribers:,} subscribers on one channel; median of "
            f"{rounds} interleaved rounds of {messages} messages)",
            "",
            "| measure | trio_ws Broadcast | baseline: a trio memory channel each | ratio |",
            "|---|---|---|---|",
            f"| deliveries/s | {ours_rate:,.0f} | {base_rate:,.0f} | "
            f"{ours_rate / base_rate:.2f}× |",
            f"| memory per subscriber | {alone:,.0f} B (+ reader task: {with_task:,.0f} B) "
            "| – | – |",
            "",
            f"Publisher latency per `publish()` to {subscribers:,} subscribers "
            f"({latency_messages} publishes; one subscriber with buffer 256 never reads, "
            f"so it drops {latency_messages - 256}):",
            "",
            "| subscribers | p50 | p99 | max |",
            "|---|---|---|---|",
            f"| all reading | {_ms(statistics.median(reading))} | {_ms(_p99(reading))} | "
            f"{_ms(max(reading))} |",
            f"| one never reads (drop_oldest) | {_ms(statistics.median(stalled))} | "
            f"{_ms(_p99(stalled))} | {_ms(max(stalled))} |",
            "",
            f"p50 ratio stalled/reading: {p50_ratio:.2f}×. "
            f'With `overflow="block"` instead, the same stalled subscriber stops the publisher '
            f"after {block} publishes (its buffer of 256 is full): that policy is opt-in.",
        ]
    )


# ---------------------------------------------------------------------------- end to end


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _websockets_room_server(port: int) -> None:
    """A websockets Trio server: each message goes to the room with ``broadcast()``."""
    from websockets.trio.connection import broadcast
    from websockets.trio.server import serve

    members: set[Any] = set()

    async def handler(ws: Any) -> None:
        members.add(ws)
        try:
            await ws.send(json.dumps({"room": "/room", "worker": os.getpid()}))
            async for message in ws:
                await broadcast(members, message)
        finally:
            members.discard(ws)

    await serve(handler, port, host="127.0.0.1", compression=None, ping_interval=None)


_RAW_MEMBERS: dict[int, Any] = {}


async def raw_room_app(scope: Any, receive: Any, send: Any) -> None:
    """The baseline on trio_ws.serve: raw ASGI, each message sent to every member in turn by
    the sender's task (no Broadcast, no WebSocket class, no per-socket task)."""
    if scope["type"] != "websocket":
        return  # lifespan: trio_ws.serve answers it for apps that return
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps({"room": "/room", "worker": 0})})
    key = id(send)
    _RAW_MEMBERS[key] = send
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            for member in list(_RAW_MEMBERS.values()):
                await member({"type": "websocket.send", "text": message["text"]})
    finally:
        del _RAW_MEMBERS[key]


@contextmanager
def _server(kind: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    if kind in ("trio_ws", "raw"):
        app = "examples.broadcast_chat:app" if kind == "trio_ws" else "bench.broadcast:raw_room_app"
        command = [sys.executable, "-m", "trio_ws", app, "--port", str(port), "--ping-interval",
                   "off"]  # fmt: skip
    else:
        command = [sys.executable, "-m", "bench.broadcast", "--serve-websockets", str(port)]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{kind} server did not start") from None
                time.sleep(0.1)
        yield f"ws://127.0.0.1:{port}/room", process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _room_round(clients: list[Any], counters: dict[str, Any], tag: str) -> float:
    counters["expect"] = tag
    counters["count"] = 0
    counters["done"] = asyncio.Event()
    started = time.perf_counter()
    await clients[0].send(tag)
    await asyncio.wait_for(counters["done"].wait(), 30)
    return time.perf_counter() - started


async def _e2e(n_clients: int, rounds: int, urls: dict[str, str]) -> dict[str, list[float]]:
    from websockets.asyncio.client import connect

    results: dict[str, list[float]] = {kind: [] for kind in urls}
    rooms: dict[str, tuple[list[Any], dict[str, Any]]] = {}
    readers: list[asyncio.Task[None]] = []

    async def reader(ws: Any, counters: dict[str, Any]) -> None:
        async for message in ws:
            if message == counters.get("expect"):
                counters["count"] += 1
                if counters["count"] == n_clients:
                    counters["done"].set()

    for kind, url in urls.items():
        clients = []
        counters: dict[str, Any] = {}
        for _ in range(n_clients):
            ws = await connect(url, compression=None, ping_interval=None, open_timeout=30)
            await ws.recv()  # the welcome
            clients.append(ws)
            readers.append(asyncio.create_task(reader(ws, counters)))
        rooms[kind] = (clients, counters)
        log(f"e2e: {n_clients} clients in the {kind} room")
    await asyncio.sleep(0.5)  # every forward task subscribed
    for kind, (clients, counters) in rooms.items():  # warm-up
        await _room_round(clients, counters, f"warm {kind}")
    for n in range(rounds):
        for kind, (clients, counters) in rooms.items():
            results[kind].append(await _room_round(clients, counters, f"round {n} {kind}"))
            await asyncio.sleep(0.05)
    for task in readers:
        task.cancel()
    for clients, _ in rooms.values():
        await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)
    return results


def run_e2e(n_clients: int, rounds: int) -> str:
    log(f"e2e: {n_clients} clients per server, {rounds} interleaved rounds")
    with (
        _server("trio_ws") as (ours, _),
        _server("websockets") as (theirs, _),
        _server("raw") as (raw, _),
    ):
        urls = {"trio_ws": ours, "websockets": theirs, "raw": raw}
        results = asyncio.run(_e2e(n_clients, rounds, urls))
    ours_median = statistics.median(results["trio_ws"])
    theirs_median = statistics.median(results["websockets"])
    raw_median = statistics.median(results["raw"])
    return "\n".join(
        [
            f"### End to end: {n_clients:,} websocket clients in one room (median of {rounds} "
            "interleaved rounds; time from one client's send until every client has the message)",
            "",
            "| server | median | min | max |",
            "|---|---|---|---|",
            f"| trio_ws.serve + Broadcast.forward (examples.broadcast_chat) | "
            f"{_ms(ours_median)} | {_ms(min(results['trio_ws']))} | "
            f"{_ms(max(results['trio_ws']))} |",
            f"| websockets.trio server + broadcast() | {_ms(theirs_median)} | "
            f"{_ms(min(results['websockets']))} | {_ms(max(results['websockets']))} |",
            f"| baseline: raw ASGI room on trio_ws.serve (sends in turn) | {_ms(raw_median)} | "
            f"{_ms(min(results['raw']))} | {_ms(max(results['raw']))} |",
            "",
            f"Ratio websockets/trio_ws: {theirs_median / ours_median:.2f}× (above 1: trio_ws "
            f"is faster); raw/trio_ws on the same server: {raw_median / ours_median:.2f}× "
            "(what Broadcast and the WebSocket class cost over raw ASGI). Each server runs in "
            "its own process; the clients share one asyncio process, whose CPU is part of "
            "every figure.",
        ]
    )


# ---------------------------------------------------------------------------- redis


@contextmanager
def _redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench.broadcast redis: redis-server is not installed")
    port = _free_port()
    with tempfile.TemporaryDirectory() as directory:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", directory],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(timeout=10)


async def _subscriber_process_main(url: str, kind: str, count: int) -> None:
    """In the subscriber process: say "ready", then count ``count`` messages; print the end."""
    if kind == "trio_ws":
        async with Broadcast(url) as broadcast, broadcast.subscribe("bench", buffer=count) as sub:
            print("ready", flush=True)
            received = 0
            async for _ in sub:
                received += 1
                if received == count:
                    break
    else:
        import coredis

        client = coredis.Redis.from_url(url)
        async with client, client.pubsub(channels=["bench"], ignore_subscribe_messages=True) as ps:
            print("ready", flush=True)
            received = 0
            async for message in ps:
                if message["type"] == "message":
                    received += 1
                    if received == count:
                        break
    print(json.dumps({"last": time.monotonic()}), flush=True)


async def _publish_all(url: str, kind: str, count: int) -> tuple[float, float]:
    payload = "x" * 32
    if kind == "trio_ws":
        async with Broadcast(url) as broadcast:
            started = time.monotonic()
            for _ in range(count):
                await broadcast.publish("bench", payload)
            return started, time.monotonic()
    import coredis

    client = coredis.Redis.from_url(url)
    async with client:
        started = time.monotonic()
        for _ in range(count):
            await client.publish("bench", payload)
        return started, time.monotonic()


def _redis_once(url: str, kind: str, count: int) -> tuple[float, float]:
    subscriber = subprocess.Popen(
        [sys.executable, "-m", "bench.broadcast", "--redis-subscriber", url, kind, str(count)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert subscriber.stdout is not None
        assert subscriber.stdout.readline().strip() == b"ready"
        started, published = trio.run(_publish_all, url, kind, count)
        last = json.loads(subscriber.stdout.readline())["last"]
        subscriber.wait(timeout=30)
    finally:
        if subscriber.poll() is None:
            subscriber.kill()
            subscriber.wait()
        if subscriber.stdout is not None:
            subscriber.stdout.close()
    return count / (published - started), count / (last - started)


def run_redis(count: int, rounds: int) -> str:
    log(f"redis: {rounds} interleaved rounds × {count} messages, trio_ws and bare coredis")
    rates: dict[str, list[tuple[float, float]]] = {"trio_ws": [], "coredis": []}
    with _redis_server() as url:
        for _ in range(rounds):
            for kind in rates:
                rates[kind].append(_redis_once(url, kind, count))
    rows = []
    for kind, label in (("trio_ws", "trio_ws Broadcast"), ("coredis", "bare coredis")):
        publish = statistics.median(r[0] for r in rates[kind])
        delivered = statistics.median(r[1] for r in rates[kind])
        rows.append((label, publish, delivered))
    ratio = rows[0][2] / rows[1][2]
    return "\n".join(
        [
            f"### Across processes through Redis (publisher and subscriber in two processes; "
            f"median of {rounds} interleaved rounds of {count:,} messages of 32 B, each publish "
            "awaited before the next)",
            "",
            "| client | publish calls/s | delivered/s (first publish → last received) |",
            "|---|---|---|",
            *(f"| {label} | {p:,.0f} | {d:,.0f} |" for label, p, d in rows),
            "",
            f"Delivered rate ratio trio_ws/coredis: {ratio:.2f}×.",
        ]
    )


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.broadcast", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, one minute or so")
    parser.add_argument("--parts", default="fanout,e2e,redis")
    parser.add_argument("--subscribers", type=int, help="fan-out subscribers (10,000)")
    parser.add_argument("--clients", type=int, help="e2e clients per server (1,000)")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--serve-websockets", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--redis-subscriber", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_websockets:
        trio.run(_websockets_room_server, args.serve_websockets)
        return
    if args.redis_subscriber:
        url, kind, count = args.redis_subscriber
        trio.run(_subscriber_process_main, url, kind, int(count))
        return
    quick = args.quick
    parts = [p for p in args.parts.split(",") if p]
    sections = []
    if "fanout" in parts:
        sections.append(
            run_fanout(
                args.subscribers or (1000 if quick else 10_000),
                20 if quick else 100,
                args.rounds or (3 if quick else 5),
            )
        )
    if "e2e" in parts:
        sections.append(run_e2e(args.clients or (100 if quick else 1000), args.rounds or 15))
    if "redis" in parts:
        sections.append(run_redis(2000 if quick else 20_000, args.rounds or (3 if quick else 5)))
    print("\n\n".join(sections))


if __name__ == "__main__":
    main()

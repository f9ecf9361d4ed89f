"""Broadcast at scale (issue #18 req 6): ``python -m bench.broadcast_scale [--quick]``.

One ``python -m trio_ws bench.broadcast_scale:app --workers N`` server (every worker behind one
port, ``SO_REUSEPORT``) runs a room application: each connection to ``/room/<k>`` is forwarded
its room with ``Broadcast.forward`` (structured mode, the documented pattern), and whatever a
connection sends is published to its room. ``--clients`` real websocket clients (1,000) in a
separate load process (asyncio on uvloop, ``bench.loadclient``) spread over ``--rooms`` rooms
(100); the first client of each room is its publisher. Publishers send 32 B messages at a
steady total rate (``--rates``, messages per second over all rooms, each message delivered to
every member of its room, the publisher included) for ``--seconds``; the load process counts
deliveries and their latency (from the publisher's send to each member's receipt).

Rows (the ``--backends``): ``memory`` with 1 worker (the reference: no Redis, nothing crosses
a process), one ``redis-server`` with 2 workers, and a 3-master Redis Cluster with 2 workers
(sharded pub/sub: ``redis-cluster://``), all started here on loopback ports. With 2 workers a
room's members sit on both, so every message crosses Redis to reach the other worker.
Figures per row: deliveries per second (until the last delivery), delivered/offered, latency
p50 and p99, the server's CPU (every worker) and Redis's CPU (every redis-server) per
delivery. Rounds interleave the backends; medians are printed, with ratios against one Redis.

Every wait is bounded (the server's start, the load client's connects, the warm-up, each
round); every process (servers, load clients, redis-servers) is stopped at the end. Never part
of CI: ``tests/test_bench_broadcast_scale_smoke.py`` runs it tiny.
"""

# The tables print × and µs on purpose.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .loadclient import OP_TEXT, Conn, client_frame, close_all, open_many, process_cpu
from .scale import Proc, _child

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
#: The environment variable the application reads its Broadcast URL from.
URL_VARIABLE = "BENCH_BROADCAST_URL"
BACKENDS = ("memory", "redis", "cluster")
WORKERS = {"memory": 1, "redis": 2, "cluster": 2}
LABELS = {
    "memory": "memory, 1 worker (reference)",
    "redis": "one Redis, 2 workers",
    "cluster": "3-master Redis Cluster, 2 workers",
}
ROUND_TIMEOUT = 30.0
READY_LINE = "broadcast_scale ready"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- the app


def _make_app() -> Any:
    import trio_ws

    opened: list[trio_ws.Broadcast] = []

    async def member(ws: trio_ws.WebSocket) -> None:
        room = ws.url.path
        await ws.accept()
        ws.start_soon(opened[0].forward, room, ws)
        async for text in ws.iter_text():
            await opened[0].publish(room, text)

    rooms = trio_ws.websocket_app(member)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await rooms(scope, receive, send)
            return
        await receive()  # lifespan.startup
        async with trio_ws.Broadcast(os.environ.get(URL_VARIABLE, "memory://")) as broadcast:
            opened.append(broadcast)
            await send({"type": "lifespan.startup.complete"})
            print(f"{READY_LINE} {os.getpid()}", file=sys.stderr, flush=True)
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})

    return app


#: ``python -m trio_ws bench.broadcast_scale:app``: each worker's application.
app = _make_app()


# ------------------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[Any], patience: float = 15.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(patience)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _wait_for_lines(path: Path, needle: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while path.read_text().count(needle) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} × {needle!r} not seen in {path} within {timeout} s")
        time.sleep(0.05)


@contextlib.contextmanager
def server(url: str, workers: int, logs: Path) -> Iterator[tuple[int, subprocess.Popen[Any]]]:
    """``python -m trio_ws`` with ``workers`` workers on a free port; yields (port, process)
    once every worker's Broadcast is open."""
    port = _free_port()
    log_file = logs / f"server-{port}.log"
    with log_file.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "trio_ws", "bench.broadcast_scale:app", "--port", str(port),
             "--workers", str(workers), "--ping-interval", "off", "--read-timeout", "off",
             "--compression", "off", "--graceful-timeout", "2"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr,
            env={**os.environ, "PYTHONPATH": str(ROOT), URL_VARIABLE: url},
        )  # fmt: skip
        try:
            _wait_for_lines(log_file, READY_LINE, workers, 60)
            yield port, process
        finally:
            _stop(process)


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of a process and of each of its children (the workers), by pid."""
    import psutil  # type: ignore[import-untyped]

    parent = psutil.Process(pid)
    seconds = {}
    for process in [parent, *parent.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            seconds[process.pid] = process_cpu(process)
    return seconds


def _spent(before: dict[int, float], after: dict[int, float]) -> dict[int, float]:
    return {pid: after[pid] - before.get(pid, 0.0) for pid in after}


def redis_pids(addresses: list[str]) -> list[int]:
    """The process ids of the redis-servers at ``host:port`` (their ``INFO server``)."""
    pids = []
    for address in addresses:
        host, port = address.rsplit(":", 1)
        out = subprocess.run(
            ["redis-cli", "-h", host, "-p", port, "info", "server"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
        pids += [
            int(line.split(":")[1]) for line in out.splitlines() if line.startswith("process_id:")
        ]
    return pids


def redis_cpu(pids: list[int]) -> float:
    import psutil

    return sum(process_cpu(psutil.Process(pid)) for pid in pids)


@contextlib.contextmanager
def load_client(
    port: int, clients: int, rooms: int, logs: Path
) -> Iterator[tuple[Proc, dict[str, Any]]]:
    """The load client process (stopped at the end), speaking JSON lines on stdin/stdout;
    yields it with its first answer, once its clients are connected and warmed up."""
    command = ["-m", "bench.broadcast_scale", "--client", str(port), str(clients), str(rooms)]
    with _child(command, logs / f"client-{port}.log") as child:
        yield child, json.loads(child.line(clients / 20 + 120))


# ------------------------------------------------------------------------------- the load


class RoomsClient:
    """``clients`` connections over ``rooms`` rooms; counts deliveries and their latency."""

    def __init__(self, rooms: int) -> None:
        self.rooms = rooms
        self.members: list[list[Conn]] = [[] for _ in range(rooms)]
        self.tag = b""
        self.received = 0
        self.target = 0
        self.first = self.last = 0.0
        self.latencies: list[float] = []
        self.done = asyncio.Event()

    def on_message(self, conn: Conn, op: int, data: bytes) -> None:
        if not data.startswith(self.tag):
            return  # a straggler of an earlier round
        now = time.perf_counter()
        self.received += 1
        self.last = now
        sent = data[len(self.tag) :].split(b" ", 1)[0]
        if sent:
            self.latencies.append(now - float(sent))
        if self.received >= self.target:
            self.done.set()

    def publish(self, room: int, text: bytes) -> None:
        conn = self.members[room][0]
        conn.write(client_frame(OP_TEXT, text, conn.key))

    def _start(self, tag: str, target: int) -> None:
        self.tag, self.received, self.target = tag.encode() + b":", 0, target
        self.latencies = []
        self.done = asyncio.Event()

    async def warm(self, attempts: int) -> dict[str, Any]:
        """A message in every room until one reaches every client (every forward is
        subscribed, on every worker, through the backend)."""
        members = sum(len(m) for m in self.members)
        for attempt in range(attempts):
            self._start(f"warm{attempt}", members)
            for room in range(self.rooms):
                self.publish(room, self.tag)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), 2.0)
                return {"ready": members, "warm": self.received, "attempts": attempt + 1}
        return {"ready": members, "warm": self.received, "attempts": attempts}

    async def steady(self, tag: str, rate: float, seconds: float) -> dict[str, Any]:
        """``rate`` messages per second over all rooms (round robin) for ``seconds``."""
        messages = max(1, int(rate * seconds))
        per_room = [len(m) for m in self.members]
        self._start(tag, sum(per_room[n % self.rooms] for n in range(messages)))
        started = self.first = time.perf_counter()
        sent = 0
        while sent < messages:  # every 5 ms, the messages due by now
            due = min(messages, int((time.perf_counter() - started) * rate) + 1)
            for n in range(sent, due):
                stamp = f"{time.perf_counter():.6f} ".encode()
                self.publish(n % self.rooms, (self.tag + stamp).ljust(32, b"."))
            sent = due
            await asyncio.sleep(0.005)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), ROUND_TIMEOUT)
        elapsed = (self.last or time.perf_counter()) - started
        latencies = sorted(self.latencies)
        return {
            "messages": messages,
            "deliveries": self.received,
            "expected": self.target,
            "seconds": elapsed,
            "offered_per_second": self.target / seconds,
            "per_second": self.received / elapsed if elapsed > 0 else 0.0,
            "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else None,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else None,
        }


async def _client(port: int, clients: int, rooms: int) -> None:
    client = RoomsClient(rooms)
    for start in range(0, clients, 50):  # room k gets clients k, k + rooms, ...
        batch = range(start, min(clients, start + 50))
        for index in batch:
            (conn,) = await open_many(port, f"/room/{index % rooms}", 1, client.on_message)
            client.members[index % rooms].append(conn)
    print(json.dumps(await client.warm(30)), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while words := (await reader.readline()).decode().split():
        if words[0] == "drain":
            answer = await client.warm(30)
        else:
            answer = await client.steady(words[0], float(words[1]), float(words[2]))
        print(json.dumps(answer), flush=True)
    await close_all([conn for members in client.members for conn in members], patience=10)


def client_main(port: int, clients: int, rooms: int) -> None:
    from .server import raise_fd_limit

    raise_fd_limit()
    runner: Any = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    runner(_client(port, clients, rooms))


# ------------------------------------------------------------------------------- the run


@dataclass
class Result:
    clients: int
    rooms: int
    rounds: dict[tuple[str, float], list[dict[str, Any]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


@contextlib.contextmanager
def backend_urls(backends: tuple[str, ...]) -> Iterator[dict[str, tuple[str, list[str]]]]:
    """Each backend's Broadcast URL and its redis-servers' addresses, started here."""
    from bench.broadcast import _redis_server

    with contextlib.ExitStack() as stack:
        urls: dict[str, tuple[str, list[str]]] = {}
        if "memory" in backends:
            urls["memory"] = ("memory://", [])
        if "redis" in backends:
            url = stack.enter_context(_redis_server())
            urls["redis"] = (url, [url.split("//")[1].split("/")[0]])
        if "cluster" in backends:
            from tests.broadcast._cluster import LocalCluster, cluster_tools_missing

            missing = cluster_tools_missing()
            if missing:
                raise SystemExit(f"bench.broadcast_scale cluster: {missing}")
            directory = stack.enter_context(tempfile.TemporaryDirectory())
            cluster = stack.enter_context(LocalCluster(Path(directory), masters=3))
            urls["cluster"] = (cluster.url, [node.address for node in cluster.masters()])
        yield {name: urls[name] for name in backends}


def run(
    clients: int, rooms: int, rates: list[float], seconds: float, rounds: int,
    backends: tuple[str, ...], logs: Path,
) -> Result:  # fmt: skip
    result = Result(clients, rooms)
    with backend_urls(backends) as urls, contextlib.ExitStack() as stack:
        servers: dict[str, tuple[int, subprocess.Popen[Any]]] = {}
        loaders: dict[str, Proc] = {}
        redis: dict[str, list[int]] = {}
        for name, (url, addresses) in urls.items():  # one after another: no handshake storm
            servers[name] = stack.enter_context(server(url, WORKERS[name], logs))
            redis[name] = redis_pids(addresses)
            port = servers[name][0]
            loaders[name], ready = stack.enter_context(load_client(port, clients, rooms, logs))
            log(f"{name} warmed up: {ready}")
            missed = clients - ready["warm"]
            if missed:
                result.errors.append(f"{name}: {missed} of {clients} missed the warm-up")
        for round_ in range(rounds):
            first = round_ % len(backends)
            order = backends[first:] + backends[:first]
            for rate in rates:
                for name in order:
                    # what an earlier (overloaded) round left queued is delivered first
                    drained = loaders[name].ask("drain", 90)
                    if drained["warm"] < clients:
                        result.errors.append(f"{name}: not drained before a round: {drained}")
                    pid = servers[name][1].pid
                    cpu0, redis0 = tree_cpu(pid), redis_cpu(redis[name])
                    answer = loaders[name].ask(
                        f"r{round_}{name}{rate:g} {rate} {seconds}", seconds + ROUND_TIMEOUT + 30
                    )
                    deliveries = max(answer["deliveries"], 1)
                    spent = _spent(cpu0, tree_cpu(pid))
                    answer["server_us"] = sum(spent.values()) / deliveries * 1e6
                    # the workers' shares of the server's CPU: both take part behind one port
                    workers = sorted((v for p, v in spent.items() if p != pid), reverse=True)
                    answer["worker_share"] = [
                        round(v / max(sum(workers), 1e-9) * 100) for v in workers
                    ]
                    answer["redis_us"] = (redis_cpu(redis[name]) - redis0) / deliveries * 1e6
                    result.rounds.setdefault((name, rate), []).append(answer)
                    log(f"round {round_ + 1} {name} {rate:g}/s: {answer}")
                    if answer["deliveries"] < answer["expected"]:
                        result.errors.append(
                            f"{name} at {rate:g}/s, round {round_ + 1}: "
                            f"{answer['deliveries']}/{answer['expected']} delivered"
                        )
                    time.sleep(0.2)
    return result


def _shares(samples: list[dict[str, Any]]) -> str:
    """The workers' shares of the server's CPU in the middle round, e.g. ``52/48 %``."""
    shares = sorted((s.get("worker_share") or [] for s in samples), key=lambda v: v[:1])
    middle = shares[len(shares) // 2] if shares else []
    return "/".join(map(str, middle)) + " %" if len(middle) > 1 else "–"


def table(result: Result, seconds: float) -> str:
    def median(samples: list[dict[str, Any]], key: str) -> float:
        values = [s[key] for s in samples if s.get(key) is not None]
        return statistics.median(values) if values else float("nan")

    rates = sorted({rate for _, rate in result.rounds})
    names = [name for name in BACKENDS if any(n == name for n, _ in result.rounds)]
    lines = [
        f"#### {result.clients:,} clients in {result.rooms} rooms "
        f"({result.clients // max(result.rooms, 1)} each), 32 B messages",
        "",
        "| backend | offered msg/s (deliveries/s) | deliveries/s: median | vs one Redis "
        "| delivered | latency p50 / p99 | server µs CPU per delivery | workers' shares "
        "| Redis µs CPU per delivery |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rate in rates:
        base = result.rounds.get(("redis", rate))
        for name in names:
            samples = result.rounds.get((name, rate))
            if not samples:
                continue
            rate_median = median(samples, "per_second")
            versus = f"{rate_median / median(base, 'per_second'):.2f}×" if base else "–"
            delivered = sum(s["deliveries"] for s in samples)
            expected = sum(s["expected"] for s in samples)
            lines.append(
                f"| {LABELS[name]} | {rate:,.0f} ({median(samples, 'offered_per_second'):,.0f}) "
                f"| {rate_median:,.0f} | {versus} | {delivered:,}/{expected:,} "
                f"| {median(samples, 'p50_ms'):,.1f} / {median(samples, 'p99_ms'):,.1f} ms "
                f"| {median(samples, 'server_us'):.1f} | {_shares(samples)} "
                f"| {median(samples, 'redis_us'):.1f} |"
            )
    count = max((len(v) for v in result.rounds.values()), default=0)
    note = (
        f"Median of {count} interleaved rounds of {seconds:g} s per rate; deliveries/s until "
        "the last delivery; latency from the publisher's send to each member's receipt; CPU "
        "of every worker (and of every redis-server) over the round, per delivery."
    )
    return "\n".join([*lines, "", note, *(f"- error: {e}" for e in result.errors)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.broadcast_scale", description=__doc__)
    parser.add_argument("--client", nargs=3, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="a smoke run, not a measurement")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--rates", default="500,3000", help="messages/s over all rooms")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args = parser.parse_args(argv)
    if args.client:
        client_main(*args.client)
        return 0

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # so that every server, client and redis-server is stopped

    signal.signal(signal.SIGTERM, interrupted)
    if args.quick:
        args.clients, args.rooms, args.rates, args.seconds, args.rounds = 40, 4, "50", 0.4, 1
    logs = Path(tempfile.mkdtemp(prefix="broadcast_scale-"))
    result = run(
        args.clients, args.rooms, [float(r) for r in args.rates.split(",")], args.seconds,
        args.rounds, tuple(b for b in args.backends.split(",") if b), logs,
    )  # fmt: skip
    print(table(result, args.seconds))
    log(f"logs in {logs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""At rest and at scale (issue #16): ``python -m bench.scale [--quick] [--parts idle,fanout]``.

* **idle**: ``--idle`` connections (5,000) to ``trio_ws.serve`` with its default pings (every
  20 s, answered by the client) and a direct-mode echo application waiting in ``receive``;
  uvicorn on uvloop (its default 20 s pings) with the raw ASGI echo next to it, both holding
  their connections at the same time. Figures: each server's CPU over the same windows of two
  ping intervals (``--idle-rounds`` of ``--window`` seconds), as a percentage of one core, the
  median and the median of the per-window ratios; and its RSS growth per connection (after a
  warm-up of 50 connections).
* **fanout**: ``--clients`` connections (10,000) to each of three servers, each in its own
  process, each with its own load-client process (the file-descriptor limit is per process):
  ``trio_ws.serve`` where each connection is subscribed to one memory ``Broadcast`` channel
  through ``Broadcast.forward`` (structured mode, the documented pattern), a raw ASGI room on
  ``trio_ws.serve`` (the sender's task sends to every member in turn: no Broadcast, no
  WebSocket class), and websockets' asyncio server on uvloop calling ``broadcast()``. One
  client sends a 32 B message, the server publishes it; figures: the time until every client
  has it (median of interleaved rounds) and the server's CPU per delivery; then a steady
  publish rate for a few seconds: deliveries per second until the last one arrived. The
  ``-deflate`` variants do the same with clients that offer permessage-deflate as browsers do
  (``Broadcast.forward`` on ``trio_ws.serve``, and websockets' ``broadcast()`` on uvloop with
  ``compression="deflate"``): every connection compresses with its own context.

Every wait is bounded (30 s per round, a budget per process); every server and client process
is stopped at the end. Ratios are against websockets on uvloop and against the raw room, from
the same run. Never part of CI (``tests/test_bench_scale_smoke.py`` runs it tiny).
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
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .loadclient import OP_TEXT, Conn, client_frame, close_all, open_many, process_cpu

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
#: The fan-out servers: trio_ws with Broadcast.forward, a raw ASGI room on trio_ws.serve, and
#: websockets' asyncio server with broadcast() on uvloop; then the first and the last with
#: clients that negotiate permessage-deflate.
FANOUT_KINDS = (
    "forward",
    "raw-room",
    "websockets-uvloop",
    "forward-deflate",
    "websockets-uvloop-deflate",
)
IDLE_KINDS = ("idle-trio_ws", "idle-uvicorn")
ROOM = "room"
ROUND_TIMEOUT = 30.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- servers


def _announce(port: int) -> None:
    print(f"PORT {port}", flush=True)


def _serve_trio_ws_forward() -> None:
    import trio

    import trio_ws

    async def main() -> None:
        async with trio_ws.Broadcast() as broadcast:

            async def member(ws: trio_ws.WebSocket) -> None:
                await ws.accept()
                ws.start_soon(broadcast.forward, ROOM, ws)
                async for text in ws.iter_text():
                    await broadcast.publish(ROOM, text)

            async with trio.open_nursery() as nursery:
                urls = await nursery.start(
                    _serve_kwargs(trio_ws.serve, trio_ws.websocket_app(member))
                )
                _announce(int(urls[0].rsplit(":", 1)[1]))

    trio.run(main)


def _serve_kwargs(serve: Any, app: Any, **settings: Any) -> Any:
    from functools import partial

    settings.setdefault("ping_interval", None)
    settings.setdefault("read_timeout", None)
    return partial(serve, app, "127.0.0.1", 0, graceful_timeout=1.0, **settings)


def _serve_trio_ws(app: Any, **settings: Any) -> None:
    import trio

    import trio_ws

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(_serve_kwargs(trio_ws.serve, app, **settings))
            _announce(int(urls[0].rsplit(":", 1)[1]))

    trio.run(main)


def _serve_websockets_broadcast(compression: str | None = None) -> None:
    import uvloop
    from websockets.asyncio.server import broadcast, serve

    members: set[Any] = set()

    async def handler(ws: Any) -> None:
        members.add(ws)
        try:
            async for message in ws:
                broadcast(members, message)
        finally:
            members.discard(ws)

    async def main() -> None:
        async with serve(
            handler, "127.0.0.1", 0, compression=compression, ping_interval=None, backlog=1024
        ) as server:
            _announce(next(iter(server.sockets)).getsockname()[1])
            await asyncio.get_running_loop().create_future()

    uvloop.run(main())


def serve(kind: str) -> None:
    from .server import raise_fd_limit, serve_uvicorn

    raise_fd_limit()
    if kind in ("forward", "forward-deflate"):  # trio_ws.serve accepts deflate by default
        _serve_trio_ws_forward()
    elif kind == "raw-room":
        from .broadcast import raw_room_app  # sends in turn from the sender's task

        _serve_trio_ws(raw_room_app)
    elif kind == "websockets-uvloop":
        _serve_websockets_broadcast()
    elif kind == "websockets-uvloop-deflate":
        _serve_websockets_broadcast("deflate")
    elif kind == "idle-trio_ws":
        from .apps import get_app

        # trio_ws.serve's production defaults: pings every 20 s, read timeout 60 s
        _serve_trio_ws(get_app("direct"), ping_interval=20.0, read_timeout=60.0)
    elif kind == "idle-uvicorn":
        serve_uvicorn(ping_interval=20.0)
    else:
        raise SystemExit(f"unknown server kind {kind!r}")


# ------------------------------------------------------------------------------- processes


@dataclass
class Proc:
    """A child process speaking lines on stdin/stdout."""

    proc: subprocess.Popen[str]

    def line(self, timeout: float) -> str:
        """The next stdout line, waiting at most ``timeout`` seconds."""
        import selectors

        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise TimeoutError(f"no answer within {timeout} s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"process exited (code {self.proc.poll()})")
        return line.strip()

    def ask(self, command: str, timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.line(timeout))
        return answer


@contextlib.contextmanager
def _child(args: list[str], log_file: Path) -> Iterator[Proc]:
    with log_file.open("a") as stderr:
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
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


@contextlib.contextmanager
def server(kind: str, log_file: Path) -> Iterator[tuple[int, int]]:
    """Start a server; yield ``(port, pid)``."""
    with _child(["-m", "bench.scale", "--serve", kind], log_file) as child:
        line = child.line(30)
        if not line.startswith("PORT "):
            raise RuntimeError(f"{kind} did not start: {line!r}")
        yield int(line.split()[1]), child.proc.pid


def server_rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def server_cpu(pid: int) -> float:
    import psutil  # type: ignore[import-untyped]

    return process_cpu(psutil.Process(pid))


# ------------------------------------------------------------------------------- clients


class FanoutClient:
    """``count`` connections; counts the deliveries of the messages it triggers."""

    def __init__(self) -> None:
        self.conns: list[Conn] = []
        self.expect = b""
        self.received = 0
        self.target = 0
        self.last = 0.0
        self.done: asyncio.Event = asyncio.Event()

    def on_message(self, conn: Conn, op: int, data: bytes) -> None:
        if data.startswith(self.expect):
            self.received += 1
            self.last = time.perf_counter()
            if self.received >= self.target:
                self.done.set()

    def _send(self, text: bytes) -> None:
        conn = self.conns[0]
        conn.write(client_frame(OP_TEXT, text, conn.key))

    async def once(self, tag: str) -> dict[str, Any]:
        """One message from the first client; seconds until every client has it."""
        payload = tag.encode().ljust(32, b".")[:32]
        self.expect, self.received, self.target = payload, 0, len(self.conns)
        self.done = asyncio.Event()
        started = time.perf_counter()
        self._send(payload)
        try:
            await asyncio.wait_for(self.done.wait(), ROUND_TIMEOUT)
        except TimeoutError:
            return {"error": f"{self.received}/{self.target} delivered", "seconds": None}
        return {"seconds": time.perf_counter() - started, "received": self.received}

    async def steady(self, tag: str, rate: float, seconds: float) -> dict[str, Any]:
        """``rate`` messages per second for ``seconds``; deliveries/s until the last one."""
        messages = max(1, int(rate * seconds))
        prefix = tag.encode()
        self.expect, self.received = prefix, 0
        self.target = messages * len(self.conns)
        self.done = asyncio.Event()
        started = time.perf_counter()
        for n in range(messages):
            self._send(prefix + str(n).encode().rjust(32 - len(prefix), b"."))
            await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.perf_counter()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), ROUND_TIMEOUT)
        elapsed = (self.last or time.perf_counter()) - started
        return {
            "messages": messages,
            "deliveries": self.received,
            "expected": self.target,
            "seconds": elapsed,
            "per_second": self.received / elapsed if elapsed > 0 else 0.0,
        }


async def _fanout_client(port: int, count: int, *, deflate: bool = False) -> None:
    client = FanoutClient()
    client.conns = await open_many(port, "/room", count, client.on_message, deflate=deflate)
    if deflate and not all(conn.inflater for conn in client.conns):
        raise SystemExit("the server did not accept permessage-deflate")
    # every forward subscribed: warm-up messages until one reaches everybody
    for attempt in range(20):
        client.expect, client.received, client.target = b"warm", 0, count
        client.done = asyncio.Event()
        client._send(b"warm" + str(attempt).encode())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client.done.wait(), 2 + count / 2000)
            break
    print(json.dumps({"ready": count, "warm": client.received}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().split():
        if line[0] == "once":
            answer = await client.once(line[1])
        else:
            answer = await client.steady(line[1], float(line[2]), float(line[3]))
        print(json.dumps(answer), flush=True)
    await close_all(client.conns, patience=10)


async def _idle_client(port: int, count: int) -> None:
    echoed: set[int] = set()
    all_echoed = asyncio.Event()

    def on_message(conn: Conn, op: int, data: bytes) -> None:
        echoed.add(id(conn))
        if len(echoed) >= count:
            all_echoed.set()

    conns = await open_many(port, "/echo/text", count, on_message)
    for conn in conns:  # one echo each: every application is past accept, in its receive
        conn.write(client_frame(OP_TEXT, b"hello", conn.key))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_echoed.wait(), 60)
    print(json.dumps({"ready": count, "echoed": len(echoed)}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.readline()  # "close": the measuring is over
    print(json.dumps({"open": sum(not c.closed.done() for c in conns)}), flush=True)
    await close_all(conns, patience=10)


def client_main(mode: str, port: int, count: int) -> None:
    from .server import raise_fd_limit

    raise_fd_limit()
    # on uvloop: 10,000 sockets' wake-ups cost the client less, so more of the time to reach
    # every client is the server's
    runner: Any = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    if mode == "idle":
        runner(_idle_client(port, count))
    else:
        runner(_fanout_client(port, count, deflate=mode == "fanout-deflate"))


# ------------------------------------------------------------------------------- the runs


@dataclass
class FanoutResult:
    clients: int
    once: dict[str, list[float]] = field(default_factory=dict)
    cpu_per_delivery: dict[str, list[float]] = field(default_factory=dict)
    steady: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def run_fanout(
    clients: int, rounds: int, rate: float, seconds: float, kinds: tuple[str, ...], logs: Path
) -> FanoutResult:
    result = FanoutResult(clients)
    with contextlib.ExitStack() as stack:
        servers = {kind: stack.enter_context(server(kind, logs)) for kind in kinds}
        loaders = {}
        for kind, (port, _pid) in servers.items():  # one after the other: no handshake storm
            mode = "fanout-deflate" if kind.endswith("-deflate") else "fanout"
            command = ["-m", "bench.scale", "--client", mode, str(port), str(clients)]
            loaders[kind] = loader = stack.enter_context(_child(command, logs))
            ready = json.loads(loader.line(clients / 50 + 120))
            log(f"fanout: {kind}: {ready}")
            if ready["warm"] < clients:
                result.errors.append(f"{kind}: only {ready['warm']}/{clients} got the warm-up")
        for r in range(rounds):
            order = list(kinds[r % len(kinds) :] + kinds[: r % len(kinds)])
            for kind in order:
                pid = servers[kind][1]
                cpu0 = server_cpu(pid)
                answer = loaders[kind].ask(f"once r{r}{kind}", ROUND_TIMEOUT + 10)
                cpu = server_cpu(pid) - cpu0
                if answer.get("seconds") is None:
                    result.errors.append(f"{kind} round {r}: {answer.get('error')}")
                    continue
                result.once.setdefault(kind, []).append(answer["seconds"])
                result.cpu_per_delivery.setdefault(kind, []).append(cpu / clients * 1e6)
                time.sleep(0.05)
        for kind in kinds:
            pid = servers[kind][1]
            cpu0 = server_cpu(pid)
            answer = loaders[kind].ask(f"steady s{kind[:3]} {rate} {seconds}", seconds + 60)
            answer["server_us_per_delivery"] = (
                (server_cpu(pid) - cpu0) / max(answer["deliveries"], 1) * 1e6
            )
            result.steady[kind] = answer
            log(f"fanout steady {kind}: {answer}")
    return result


def fanout_table(result: FanoutResult, rate: float, seconds: float) -> str:
    labels = {
        "forward": "trio_ws.serve + Broadcast.forward (structured)",
        "raw-room": "raw ASGI room on trio_ws.serve (sends in turn)",
        "websockets-uvloop": "websockets asyncio + broadcast() on uvloop",
        "forward-deflate": "permessage-deflate: trio_ws.serve + Broadcast.forward",
        "websockets-uvloop-deflate": "permessage-deflate: websockets + broadcast() on uvloop",
    }
    med = {k: statistics.median(v) for k, v in result.once.items() if v}
    cpu = {k: statistics.median(v) for k, v in result.cpu_per_delivery.items() if v}
    lines = [
        f"#### {result.clients:,} connections on one worker, one channel",
        "",
        "| server | every client has one 32 B message: median (min–max) | vs websockets "
        "| vs raw room | server µs CPU per delivery | steady: deliveries/s | delivered "
        "| steady: server µs CPU per delivery |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind in labels:
        if kind not in result.once and kind not in result.steady:
            continue
        times = result.once.get(kind, [])
        cell = (
            f"{med[kind] * 1000:,.1f} ms ({min(times) * 1000:,.1f}–{max(times) * 1000:,.1f})"
            if times
            else "n/a"
        )
        # compressed connections against compressed ones
        baseline = "websockets-uvloop-deflate" if kind.endswith("-deflate") else "websockets-uvloop"
        vs_ws = f"{med[kind] / med[baseline]:.2f}×" if kind in med and baseline in med else "–"
        vs_raw = f"{med[kind] / med['raw-room']:.2f}×" if kind in med and "raw-room" in med else "–"
        steady = result.steady.get(kind, {})
        lines.append(
            f"| {labels[kind]} | {cell} | {vs_ws} | {vs_raw} | "
            f"{cpu.get(kind, float('nan')):.2f} | {steady.get('per_second', 0):,.0f} | "
            f"{steady.get('deliveries', 0):,}/{steady.get('expected', 0):,} | "
            f"{steady.get('server_us_per_delivery', float('nan')):.2f} |"
        )
    rounds = max((len(v) for v in result.once.values()), default=0)
    lines += [
        "",
        f"Median of {rounds} interleaved rounds; steady: {rate:g} messages/s for {seconds:g} s "
        "to every client, deliveries per second until the last one arrived. Ratios are times "
        "(below 1: faster than the other).",
    ]
    lines += [f"- error: {e}" for e in result.errors]
    return "\n".join(lines)


def run_idle(
    count: int,
    window: float,
    rounds: int,
    kinds: tuple[str, ...],
    logs: Path,
    figures: dict[str, Any] | None = None,
) -> str:
    """Every idle server at once, each with ``count`` connections from its own client process;
    the servers' CPU is measured over the same ``rounds`` windows (the machine's load is the
    same for all), so the ratio of each window is a paired comparison. ``figures`` (if given)
    receives ``cpu`` (% of a core per window), ``kib`` and ``still`` by kind."""
    labels = {
        "idle-trio_ws": "trio_ws.serve, direct mode (goal ≤ 1.5 %, ≤ 12 KiB)",
        "idle-uvicorn": "uvicorn + uvloop, raw ASGI (reference)",
    }
    cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
    kib: dict[str, float] = {}
    still: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        servers = {kind: stack.enter_context(server(kind, logs)) for kind in kinds}
        before = {}
        for kind, (port, pid) in servers.items():
            # the memory baseline after a warm-up of 50 connections, as bench.loadclient does
            with _child(["-m", "bench.scale", "--client", "idle", str(port), "50"], logs) as warm:
                warm.line(60)
                warm.ask("close", 30)
            time.sleep(0.5)
            before[kind] = server_rss(pid)
        clients = {}
        for kind, (port, pid) in servers.items():  # one after the other: no handshake storm
            command = ["-m", "bench.scale", "--client", "idle", str(port), str(count)]
            clients[kind] = client = stack.enter_context(_child(command, logs))
            ready = json.loads(client.line(count / 50 + 120))
            time.sleep(1.0)  # the handshakes' tail
            kib[kind] = (server_rss(pid) - before[kind]) / count / 1024
            log(f"idle {kind}: {ready}, {kib[kind]:.1f} KiB/conn")
        for r in range(rounds):
            start = {kind: server_cpu(pid) for kind, (_port, pid) in servers.items()}
            wall0 = time.perf_counter()
            time.sleep(window)
            elapsed = time.perf_counter() - wall0
            for kind, (_port, pid) in servers.items():
                cpu[kind].append((server_cpu(pid) - start[kind]) / elapsed * 100)
            log(f"idle window {r}: " + ", ".join(f"{k} {v[-1]:.2f} %" for k, v in cpu.items()))
        for kind, client in clients.items():
            still[kind] = client.ask("close", 30)["open"]
    if figures is not None:
        figures.update(cpu=cpu, kib=kib, still=still)
    return idle_table(count, window, rounds, cpu, kib, still, labels)


def idle_table(
    count: int,
    window: float,
    rounds: int,
    cpu: dict[str, list[float]],
    kib: dict[str, float],
    still: dict[str, int],
    labels: dict[str, str],
) -> str:
    reference = cpu.get("idle-uvicorn")
    lines = [
        f"#### {count:,} idle connections, pings every 20 s (every server's CPU over the same "
        f"{rounds} windows of {window:g} s)",
        "",
        "| server | CPU, % of one core: median (min–max) | vs uvicorn: median of the windows "
        "| RSS per connection, KiB | still open |",
        "|---|---|---|---|---|",
    ]
    for kind, values in cpu.items():
        ratio = "–"
        if reference and values is not reference and all(reference):
            ratios = [mine / theirs for mine, theirs in zip(values, reference, strict=True)]
            ratio = f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"
        lines.append(
            f"| {labels[kind]} | {statistics.median(values):.2f} % "
            f"({min(values):.2f}–{max(values):.2f}) | {ratio} | {kib[kind]:.1f} "
            f"| {still[kind]:,}/{count:,} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--client", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="a smoke run, not a measurement")
    parser.add_argument("--parts", default="idle,fanout")
    parser.add_argument("--clients", type=int, default=10_000, help="fan-out connections")
    parser.add_argument("--idle", type=int, default=5_000, help="idle connections")
    parser.add_argument("--window", type=float, default=40.0, help="idle CPU window, seconds")
    parser.add_argument("--idle-rounds", type=int, default=3, help="idle CPU windows")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--rate", type=float, default=2.0, help="steady publishes per second")
    parser.add_argument("--seconds", type=float, default=5.0, help="steady publishing time")
    parser.add_argument("--kinds", default=",".join(FANOUT_KINDS + IDLE_KINDS))
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    if args.client:
        mode, port, count = args.client
        client_main(mode, int(port), int(count))
        return 0
    if args.quick:
        args.clients, args.idle, args.window, args.rounds = 200, 200, 1.0, 2
        args.idle_rounds = 2
        args.rate, args.seconds = 5.0, 0.6  # a smoke run
    kinds = tuple(k for k in args.kinds.split(",") if k)
    logs = ROOT / "bench" / "results" / "scale.log"
    logs.parent.mkdir(parents=True, exist_ok=True)
    logs.write_text("")
    sections = []
    if "idle" in args.parts:
        sections.append(
            run_idle(
                args.idle,
                args.window,
                args.idle_rounds,
                tuple(k for k in kinds if k in IDLE_KINDS),
                logs,
            )
        )
    if "fanout" in args.parts:
        fan = tuple(k for k in kinds if k in FANOUT_KINDS)
        result = run_fanout(args.clients, args.rounds, args.rate, args.seconds, fan, logs)
        sections.append(fanout_table(result, args.rate, args.seconds))
    print("\n\n".join(sections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

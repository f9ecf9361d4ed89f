"""The load client: a minimal WebSocket client on asyncio protocols, in its own process.

``python -m bench.loadclient --port P --server-pid PID --scenario NAME [--duration S]`` runs one
scenario against a server on 127.0.0.1 and prints one JSON object. It samples the server's CPU
time (``psutil``) and its own (``time.process_time``) over exactly the measured window, so the
report can show that the client is not the bottleneck.

Why this client: every server here runs on trio in one process. A trio client (trio-websocket,
or wsproto over trio sockets) would spend about as much CPU per message as the server does,
through the same scheduler, channels and wsproto; ``websockets``' asyncio client is cheaper but
still runs a coroutine hand-off and its sans-I/O layer per message. This client is callback
driven (``asyncio.Protocol.data_received`` writes the next frame directly), frames are
precomputed once per connection (a fixed masking key per connection, which servers accept), and
parsing is a few slice operations. It spends a fraction of the server's CPU per round trip
(measured in every report).

Scenarios: ``latency`` (1 connection, sequential 32 B round trips, p50/p99), ``rt50_32`` and
``rt50_64k`` (50 connections, one message in flight each), ``pipeline`` (1 connection, a window
of 64 messages of 32 B in flight), ``handshake`` (8 concurrent open/close loops), ``memory``
(server RSS per idle connection with 1,000 open, after a warm-up). ``--paired PORTS`` and
``--paired-handshakes PORTS`` alternate the 50 x 32 B ping-pong, or the handshake loops, between
several servers in short slices (``bench.versus``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import resource
import statistics
import time
import zlib
from typing import TYPE_CHECKING, Any, cast

import psutil  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from collections.abc import Callable

HOST = "127.0.0.1"
OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 1, 2, 8, 9, 10


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte masking ``key`` (RFC 6455 §5.3)."""
    if not payload:
        return payload
    n = len(payload)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        n, "little"
    )


def client_frame(opcode: int, payload: bytes, key: bytes) -> bytes:
    """One final, masked client frame."""
    n = len(payload)
    if n < 126:
        header = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        header = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return header + key + mask(payload, key)


#: What a browser offers; the client then inflates compressed frames (it sends uncompressed).
DEFLATE_OFFER = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"


def upgrade_request(path: str, port: int, *, deflate: bool = False) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"{DEFLATE_OFFER if deflate else ''}\r\n"
    ).encode()


class Conn(asyncio.Protocol):
    """One client connection. ``on_message(conn, opcode, payload)`` is called per data frame."""

    def __init__(self, request: bytes, on_message: Callable[[Conn, int, bytes], None]) -> None:
        loop = asyncio.get_running_loop()
        self.request = request
        self.on_message = on_message
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.key = os.urandom(4)
        self.buffer = bytearray()
        self.handshaking = True
        self.transport: asyncio.Transport | None = None
        #: Set when the server accepted permessage-deflate: one inflater per connection, since
        #: the server's compressor keeps its context from message to message.
        self.inflater: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # an asyncio.Transport, or uvloop's (which does not subclass it)
        self.transport = cast("asyncio.Transport", transport)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.handshaking:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            if b"permessage-deflate" in buffer[:end].lower():
                self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            del buffer[: end + 4]
            self.handshaking = False
            if b" 101 " not in status:
                self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
                self.abort()
                return
            self.opened.set_result(None)
        while len(buffer) >= 2:
            b0, b1 = buffer[0], buffer[1]
            length, start = b1 & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            opcode = b0 & 0x0F
            if b0 & 0x40 and self.inflater is not None:  # RSV1: a compressed message
                payload = self.inflater.decompress(payload + b"\x00\x00\xff\xff")
            if opcode == OP_CLOSE:
                self.abort()
                return
            if opcode == OP_PING:
                self.write(client_frame(OP_PONG, payload, self.key))
            elif opcode != OP_PONG:
                self.on_message(self, opcode, payload)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def send_close(self) -> None:
        self.write(client_frame(OP_CLOSE, (1000).to_bytes(2, "big"), self.key))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _ignore(conn: Conn, opcode: int, payload: bytes) -> None:
    pass


async def connect(
    port: int,
    path: str,
    on_message: Callable[[Conn, int, bytes], None] = _ignore,
    *,
    deflate: bool = False,
) -> Conn:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(
        lambda: Conn(upgrade_request(path, port, deflate=deflate), on_message), HOST, port
    )
    await asyncio.wait_for(conn.opened, 10)
    return conn


async def close_all(conns: list[Conn], patience: float = 5.0) -> None:
    """Send a close frame on every connection; abort those not closed after ``patience`` s."""
    for conn in conns:
        if not conn.closed.done():
            conn.send_close()
    try:
        await asyncio.wait_for(asyncio.gather(*(c.closed for c in conns)), patience)
    except TimeoutError:
        for conn in conns:
            conn.abort()


async def open_many(
    port: int, path: str, count: int, on_message: Any = _ignore, *, deflate: bool = False
) -> list[Conn]:
    """Open ``count`` connections, at most 50 handshakes at a time (offering
    permessage-deflate with ``deflate``)."""
    conns: list[Conn] = []
    for start in range(0, count, 50):
        batch = min(50, count - start)
        conns += await asyncio.gather(
            *(connect(port, path, on_message, deflate=deflate) for _ in range(batch))
        )
    return conns


def process_cpu(process: psutil.Process) -> float:
    """CPU seconds of a single-threaded process: ``/proc/PID/schedstat`` (ns), else psutil."""
    try:
        with open(f"/proc/{process.pid}/schedstat") as stat:
            return int(stat.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        times = process.cpu_times()
        return float(times.user + times.system)


class Meter:
    """Server and client CPU seconds and wall time over one measured window."""

    def __init__(self, server: psutil.Process) -> None:
        self.server = server

    def _server_cpu(self) -> float:
        return process_cpu(self.server)

    def start(self) -> None:
        self.t0, self.s0, self.c0 = time.perf_counter(), self._server_cpu(), time.process_time()

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self.t0
        return {
            "wall": wall,
            "server_cpu": self._server_cpu() - self.s0,
            "client_cpu": time.process_time() - self.c0,
        }


def per_op(window: dict[str, float], ops: int) -> dict[str, float]:
    """Rates and CPU per operation from a window and an operation count."""
    ops = max(ops, 1)
    return {
        "ops": ops,
        "rate": ops / window["wall"],
        "server_us_per_op": window["server_cpu"] / ops * 1e6,
        "client_us_per_op": window["client_cpu"] / ops * 1e6,
        "server_cpu_pct": window["server_cpu"] / window["wall"] * 100,
        "client_cpu_pct": window["client_cpu"] / window["wall"] * 100,
    }


class EchoMismatch(AssertionError):
    """The server echoed something else."""


async def round_trips(
    port: int, meter: Meter, conns_n: int, size: int, duration: float, window: int = 1
) -> dict[str, float]:
    """``conns_n`` connections each keeping ``window`` echoes in flight for ``duration``."""
    kind = "text" if size <= 1024 else "bytes"
    opcode = OP_TEXT if kind == "text" else OP_BINARY
    payload = b"x" * size
    state = {"measuring": False, "stopping": False, "count": 0, "inflight": 0}
    done = asyncio.get_running_loop().create_future()
    frames: dict[int, bytes] = {}
    errors: list[str] = []

    def on_message(conn: Conn, op: int, data: bytes) -> None:
        if data != payload or op != opcode:
            errors.append(f"echo mismatch: opcode {op}, {len(data)} bytes")
            conn.abort()
            return
        if state["measuring"]:
            state["count"] += 1
        if state["stopping"]:
            state["inflight"] -= 1
            if state["inflight"] == 0 and not done.done():
                done.set_result(None)
        else:
            conn.write(frames[id(conn)])

    conns = await open_many(port, f"/echo/{kind}", conns_n, on_message)
    for conn in conns:
        frames[id(conn)] = client_frame(opcode, payload, conn.key)
    state["inflight"] = conns_n * window
    for conn in conns:
        for _ in range(window):
            conn.write(frames[id(conn)])
    await asyncio.sleep(min(0.5, duration / 4))  # warm-up
    state["measuring"] = True
    meter.start()
    await asyncio.sleep(duration)
    state["measuring"] = False
    result = per_op(meter.stop(), int(state["count"]))
    state["stopping"] = True
    try:
        await asyncio.wait_for(done, 10)
    except TimeoutError:
        errors.append("echoes still missing 10 s after the window")
    await close_all(conns)
    if errors:
        raise EchoMismatch(errors[0])
    return result


async def latency(port: int, meter: Meter, count: int, duration: float) -> dict[str, float]:
    """Sequential 32 B round trips on one connection: p50 and p99 in microseconds."""
    payload = b"x" * 32
    samples: list[int] = []
    sent_at, measuring, deadline = 0, False, time.perf_counter() + 0.2
    done = asyncio.get_running_loop().create_future()

    def on_message(conn: Conn, op: int, data: bytes) -> None:
        nonlocal sent_at
        now = time.perf_counter_ns()
        if data != payload:
            if not done.done():
                done.set_exception(EchoMismatch(f"echo mismatch: {len(data)} bytes"))
            return
        if measuring:
            samples.append(now - sent_at)
            if len(samples) >= count or time.perf_counter() > deadline:
                if not done.done():
                    done.set_result(None)
                return
        sent_at = time.perf_counter_ns()
        conn.write(frame)

    conn = await connect(port, "/echo/text", on_message)
    frame = client_frame(OP_TEXT, payload, conn.key)
    conn.write(frame)
    await asyncio.sleep(0.2)  # warm-up
    deadline = time.perf_counter() + duration
    measuring = True
    meter.start()
    await asyncio.wait_for(done, duration + 10)
    window = meter.stop()
    await close_all([conn])
    samples.sort()
    result = per_op(window, len(samples))
    result["p50_us"] = statistics.median(samples) / 1000
    result["p99_us"] = samples[min(len(samples) - 1, int(len(samples) * 0.99))] / 1000
    return result


async def handshake_loops(port: int, seconds: float, concurrency: int = 8) -> int:
    """``concurrency`` loops for ``seconds``: open, wait for the 101, send a close frame, wait
    for the server's close; repeat. Returns the handshakes completed."""
    count = 0
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            conn = await connect(port, "/echo/text")
            conn.send_close()
            await asyncio.wait_for(conn.closed, 10)
            count += 1

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return count


async def handshakes(
    port: int, meter: Meter, duration: float, concurrency: int = 8
) -> dict[str, float]:
    """`handshake_loops` for ``duration`` after a warm-up."""
    await handshake_loops(port, min(0.3, duration / 4), concurrency)
    meter.start()
    count = await handshake_loops(port, duration, concurrency)
    return per_op(meter.stop(), count)


def slice_orders(targets: int, cycles: int, seed: int) -> list[list[int]]:
    """The order of the targets' slices in each cycle: a fresh shuffle per cycle, drawn from
    ``seed``, so that no target always follows the same neighbour (a slice's figure depends
    on what ran just before it: caches, the CPU's frequency, the previous server's
    leftovers). A fixed rotation put each target behind one neighbour in every cycle, and
    reversing it moved a ratio by up to 0.07.

    Every target also runs first, last and behind each other target about equally often
    over many cycles; the seed is part of the result, so that a run can be repeated.
    """
    draw = random.Random(seed)
    return [draw.sample(range(targets), targets) for _ in range(cycles)]


async def paired_handshakes(
    ports: list[int], pids: list[int], cycles: int, seconds: float, seed: int
) -> dict[str, Any]:
    """Alternate `handshake_loops` between several servers, slice by slice (as `paired` does
    for round trips): per server, per-cycle server µs per handshake and handshakes/s."""
    processes = [psutil.Process(pid) for pid in pids]
    for port in ports:  # warm-up
        await handshake_loops(port, 0.2)
    per_cycle: list[list[dict[str, float]]] = [[] for _ in ports]
    client0, wall0 = time.process_time(), time.perf_counter()
    orders = slice_orders(len(ports), cycles, seed)
    for order in orders:
        for index in order:
            t0, c0 = time.perf_counter(), process_cpu(processes[index])
            count = await handshake_loops(ports[index], seconds)
            cpu, wall = process_cpu(processes[index]) - c0, time.perf_counter() - t0
            per_cycle[index].append(
                {"server_us_per_op": cpu / max(count, 1) * 1e6, "rate": count / wall}
            )
    client_cpu_pct = (time.process_time() - client0) / (time.perf_counter() - wall0) * 100
    return {"per_cycle": per_cycle, "client_cpu_pct": client_cpu_pct, "seed": seed}


async def memory(port: int, server: psutil.Process, idle: int) -> dict[str, float]:
    """Server RSS growth per idle, accepted connection with ``idle`` open (after a warm-up)."""
    echoed: set[int] = set()
    all_echoed = asyncio.Event()
    expected = idle + 50

    def on_message(conn: Conn, op: int, data: bytes) -> None:
        echoed.add(id(conn))
        if len(echoed) >= expected:
            all_echoed.set()

    warm = await open_many(port, "/echo/text", 50, on_message)
    for conn in warm:
        conn.write(client_frame(OP_TEXT, b"warm", conn.key))
    await asyncio.sleep(0.3)
    await close_all(warm)
    await asyncio.sleep(0.5)
    before = server.memory_info().rss
    conns = await open_many(port, "/echo/text", idle, on_message)
    for conn in conns:  # one echo each: every application is past accept, in its receive
        conn.write(client_frame(OP_TEXT, b"hello", conn.key))
    try:
        await asyncio.wait_for(all_echoed.wait(), 20)
    except TimeoutError:
        pass  # reported: "echoed" < "ops"
    await asyncio.sleep(0.5)
    after = server.memory_info().rss
    await close_all(conns, patience=20)
    return {
        "ops": idle,
        "echoed": len(echoed) - len(warm),
        "rss_before_mib": before / 2**20,
        "rss_after_mib": after / 2**20,
        "kib_per_conn": (after - before) / idle / 1024,
    }


class PairedGroup:
    """50 ping-pong connections to one server, driven only while ``active``."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.active = False
        self.count = 0
        self.inflight = 0
        self.drained = asyncio.Event()
        self.frames: dict[int, bytes] = {}
        self.errors: list[str] = []

    def on_message(self, conn: Conn, op: int, data: bytes) -> None:
        if data != PAIRED_PAYLOAD:
            self.errors.append(f"echo mismatch: {len(data)} bytes")
            conn.abort()
            return
        self.count += 1
        if self.active:
            conn.write(self.frames[id(conn)])
            return
        self.inflight -= 1
        if self.inflight == 0:
            self.drained.set()

    async def slice(self, conns: list[Conn], seconds: float) -> tuple[float, float, int]:
        """Drive for ``seconds``, then drain; (server CPU s, wall s, round trips)."""
        self.count, self.inflight, self.active = 0, len(conns), True
        self.drained = asyncio.Event()
        t0, c0 = time.perf_counter(), process_cpu(self.process)
        for conn in conns:
            conn.write(self.frames[id(conn)])
        await asyncio.sleep(seconds)
        self.active = False
        await asyncio.wait_for(self.drained.wait(), 10)
        return process_cpu(self.process) - c0, time.perf_counter() - t0, self.count


PAIRED_PAYLOAD = b"x" * 32


async def paired(
    ports: list[int], pids: list[int], cycles: int, seconds: float, seed: int
) -> dict[str, Any]:
    """Alternate one 50-connection ping-pong between several servers, slice by slice.

    Every server is up at once; in each cycle each one gets ``seconds`` of load while the
    others idle, so neighbouring slices see the same machine conditions, in an order that
    changes from cycle to cycle (`slice_orders`). Per server: per-cycle server µs per round
    trip and round trips/s.
    """
    groups = [PairedGroup(psutil.Process(pid)) for pid in pids]
    conns: list[list[Conn]] = []
    for group, port in zip(groups, ports, strict=True):
        opened = await open_many(port, "/echo/text", 50, group.on_message)
        for conn in opened:
            group.frames[id(conn)] = client_frame(OP_TEXT, PAIRED_PAYLOAD, conn.key)
        conns.append(opened)
    for group, opened in zip(groups, conns, strict=True):  # warm-up
        await group.slice(opened, 0.2)
    per_cycle: list[list[dict[str, float]]] = [[] for _ in groups]
    client0 = time.process_time()
    wall0 = time.perf_counter()
    for order in slice_orders(len(groups), cycles, seed):
        for index in order:
            cpu, wall, count = await groups[index].slice(conns[index], seconds)
            per_cycle[index].append(
                {"server_us_per_op": cpu / max(count, 1) * 1e6, "rate": count / wall}
            )
    client_cpu_pct = (time.process_time() - client0) / (time.perf_counter() - wall0) * 100
    for opened in conns:
        await close_all(opened)
    errors = [e for g in groups for e in g.errors]
    if errors:
        raise EchoMismatch(errors[0])
    return {"per_cycle": per_cycle, "client_cpu_pct": client_cpu_pct, "seed": seed}


async def run_scenario(
    scenario: str, port: int, server: psutil.Process, duration: float, count: int
) -> dict[str, Any]:
    meter = Meter(server)
    if scenario == "latency":
        return await latency(port, meter, count=count, duration=duration)
    if scenario == "rt50_32":
        return await round_trips(port, meter, 50, 32, duration)
    if scenario == "rt50_64k":
        return await round_trips(port, meter, 50, 65536, duration)
    if scenario == "pipeline":
        return await round_trips(port, meter, 1, 32, duration, window=64)
    if scenario == "handshake":
        return await handshakes(port, meter, duration)
    if scenario == "memory":
        return await memory(port, server, count)
    raise ValueError(f"unknown scenario {scenario}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the scenarios in order; a failing scenario reports its error and the rest go on."""
    if args.paired or args.paired_handshakes:
        ports = [int(p) for p in (args.paired or args.paired_handshakes).split(",")]
        pids = [int(p) for p in args.pids.split(",")]
        seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
        if args.paired_handshakes:
            return await paired_handshakes(ports, pids, args.cycles, args.duration, seed)
        return await paired(ports, pids, args.cycles, args.duration, seed)
    server = psutil.Process(args.server_pid)
    results: dict[str, Any] = {}
    for scenario in args.scenarios.split(","):
        count = args.idle if scenario == "memory" else args.count
        try:
            results[scenario] = await asyncio.wait_for(
                run_scenario(scenario, args.port, server, args.duration, count),
                args.duration * 4 + 60,
            )
        except Exception as exc:  # reported in the table, never hidden
            results[scenario] = {"error": f"{type(exc).__name__}: {exc}"}
    return results


#: ``memory`` comes first so that it sees a fresh server.
SCENARIOS = ("memory", "latency", "rt50_32", "rt50_64k", "pipeline", "handshake")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--server-pid", type=int, default=0)
    parser.add_argument("--paired", help="comma-separated ports: the paired 50 x 32 B run")
    parser.add_argument(
        "--paired-handshakes", help="comma-separated ports: handshakes alternated between them"
    )
    parser.add_argument("--pids", help="the servers' pids, in --paired's order")
    parser.add_argument("--cycles", type=int, default=10, help="paired cycles")
    parser.add_argument(
        "--seed", type=int, default=None, help="paired: the seed of the slice order (random)"
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per window")
    parser.add_argument("--count", type=int, default=5000, help="latency samples (at most)")
    parser.add_argument("--idle", type=int, default=1000, help="idle connections for memory")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()

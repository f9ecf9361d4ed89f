"""In-process benchmark: ASGI ``receive``/``send`` fed by trio memory channels, no sockets.

The driving client models hypercorn's trio worker (docs/hypercorn-facts.md): the application's
``receive`` is a memory channel's ``receive`` with a 10-slot buffer, and its ``send`` is a
coroutine that hands each message to the client through a second 10-slot channel (one checkpoint
per send, as hypercorn's socket write has). Only the wrapper under test differs between variants,
so the ratio against ``raw`` is the wrapper's cost.

Workloads (see :mod:`bench.apps`): ``pingpong`` (one message in flight, echoed), ``stream``
(application → client) and ``sink`` (client → application), each for text and bytes. Every
message is checked, for every variant, so a wrapper that loses or mangles one fails loudly.
Timing is process CPU time, which a busy shared machine disturbs less than wall time.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import trio

from .apps import (
    END_BYTES,
    END_TEXT,
    PAYLOAD_BYTES,
    PAYLOAD_TEXT,
    VARIANTS,
    ASGIApp,
    Message,
    Scope,
    get_app,
    unavailable_reason,
)

if TYPE_CHECKING:
    from collections.abc import Callable

WORKLOADS = ("pingpong", "stream", "sink")
KINDS = ("text", "bytes")
#: hypercorn's ``max_app_queue_size`` default.
QUEUE_SIZE = 10


class EchoMismatch(AssertionError):
    """A variant answered with something other than what the workload expects."""


def make_scope(path: str, query: bytes = b"") -> Scope:
    """A websocket scope shaped like hypercorn 0.18's (docs/hypercorn-facts.md)."""
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"upgrade", b"websocket")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
        "state": {},
    }


async def drive(
    app: ASGIApp, workload: str, kind: str, n: int, extensions: tuple[str, ...] = ()
) -> float:
    """Run one workload of ``n`` messages against ``app``; return the CPU seconds it took.

    The clock covers the ``n`` messages only, not the handshake or the teardown.
    """
    to_app, app_inbox = trio.open_memory_channel[Message](QUEUE_SIZE)
    app_outbox, from_app = trio.open_memory_channel[Message](QUEUE_SIZE)

    async def send(message: Message) -> None:
        await app_outbox.send(message)

    query = f"n={n}".encode() if workload == "stream" else b""
    scope = make_scope(f"/{'echo' if workload == 'pingpong' else workload}/{kind}", query)
    for extension in extensions:  # e.g. trio_ws.cancel_safe_send: these channels honour it
        scope["extensions"][extension] = {}
    payload: str | bytes = PAYLOAD_TEXT if kind == "text" else PAYLOAD_BYTES
    incoming: Message = {"type": "websocket.receive", "bytes": None, "text": None, kind: payload}
    elapsed = 0.0

    async def client() -> None:
        nonlocal elapsed
        await to_app.send({"type": "websocket.connect"})
        if (await from_app.receive())["type"] != "websocket.accept":
            raise EchoMismatch("no accept")
        start = time.process_time()
        if workload == "pingpong":
            for _ in range(n):
                await to_app.send(incoming)
                reply = await from_app.receive()
                if reply.get(kind) != payload:
                    raise EchoMismatch(f"echo: {reply!r}")
        elif workload == "stream":
            for _ in range(n):
                reply = await from_app.receive()
                if reply.get(kind) != payload:
                    raise EchoMismatch(f"stream: {reply!r}")
            if (await from_app.receive())["type"] != "websocket.close":
                raise EchoMismatch("stream: no close after the last message")
        else:
            for _ in range(n):
                await to_app.send(incoming)
            end = END_TEXT if kind == "text" else END_BYTES
            await to_app.send({"type": "websocket.receive", "bytes": None, "text": None, kind: end})
            reply = await from_app.receive()
            expected = str(n) if kind == "text" else str(n).encode()
            if reply.get(kind) != expected:
                raise EchoMismatch(f"sink counted {reply!r}, sent {n}")
        elapsed = time.process_time() - start
        await to_app.send({"type": "websocket.disconnect", "code": 1000})

    with trio.fail_after(max(30.0, n / 1000)):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client)

            async def run_app() -> None:
                await app(scope, app_inbox.receive, send)
                await app_outbox.aclose()

            nursery.start_soon(run_app)
    return elapsed


@dataclass
class InProcessResult:
    """Median messages per second by ``(workload, kind, variant)``, with every sample kept."""

    samples: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    def rate(self, workload: str, kind: str, variant: str) -> float | None:
        values = self.samples.get((workload, kind, variant))
        return statistics.median(values) if values else None


def run_once(variant: str, workload: str, kind: str, n: int) -> float:
    """Messages per second for one run of one variant (its own ``trio.run``)."""
    app = get_app(variant)
    assert app is not None
    gc.collect()
    elapsed = trio.run(drive, app, workload, kind, n)
    return n / elapsed if elapsed > 0 else float("inf")


def run(
    *,
    rounds: int,
    n: int,
    variants: tuple[str, ...] = VARIANTS,
    workloads: tuple[str, ...] = WORKLOADS,
    kinds: tuple[str, ...] = KINDS,
    progress: Callable[[str], None] = print,
) -> InProcessResult:
    """Interleave every variant in each round (rotating the order) and keep all samples."""
    result = InProcessResult()
    runnable = []
    for variant in variants:
        reason = unavailable_reason(variant)
        if reason is None:
            runnable.append(variant)
        else:
            result.unavailable[variant] = reason
    for variant in runnable:  # warm-up: imports, code paths, allocator
        run_once(variant, "pingpong", "text", min(n, 500))
    for r in range(rounds):
        order = runnable[r % len(runnable) :] + runnable[: r % len(runnable)]
        for workload in workloads:
            for kind in kinds:
                for variant in order:
                    rate = run_once(variant, workload, kind, n)
                    result.samples.setdefault((workload, kind, variant), []).append(rate)
        progress(f"in-process round {r + 1}/{rounds} done")
    return result


def smoke(n: int = 20) -> dict[str, str]:
    """Run every workload of every available variant for ``n`` messages; map variant to status."""
    status: dict[str, str] = {}
    for variant in VARIANTS:
        reason = unavailable_reason(variant)
        if reason is not None:
            status[variant] = reason
            continue
        for workload in WORKLOADS:
            for kind in KINDS:
                app = get_app(variant)
                assert app is not None
                trio.run(partial(drive, app, workload, kind, n))
        status[variant] = "ok"
    return status

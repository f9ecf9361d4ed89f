"""Helpers of the production tests: a server on 127.0.0.1:0 with an observer, a recorder of
the server's events, and a plain HTTP GET for scraping metrics."""

from __future__ import annotations

import math
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from trio_ws import serve
from trio_ws.observe import ConnectionEnd, HandshakeRefused, ServerObserver

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from trio_ws.observe import ObservedConnection


class Recorder(ServerObserver):
    """Every event, in order, on a channel the test awaits (no sleeps)."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[tuple[str, Any]](math.inf)

    def connection_accepted(self, connection: ObservedConnection) -> None:
        self._send.send_nowait(("accepted", connection))

    def connection_ended(self, connection: ObservedConnection, end: ConnectionEnd) -> None:
        self._send.send_nowait(("ended", end))

    def handshake_refused(self, refusal: HandshakeRefused) -> None:
        self._send.send_nowait(("refused", refusal))

    def keepalive_round_trip(self, seconds: float) -> None:
        self._send.send_nowait(("round_trip", seconds))

    async def next(self, *kinds: str) -> Any:
        """The next event of one of ``kinds`` (others are skipped)."""
        while True:
            kind, value = await self._receive.receive()
            if kind in kinds:
                return value

    def pending(self) -> list[tuple[str, Any]]:
        """The events reported and not yet taken."""
        events = []
        while True:
            try:
                events.append(self._receive.receive_nowait())
            except trio.WouldBlock:
                return events


@asynccontextmanager
async def served(app: Any, observer: ServerObserver | None, **settings: Any) -> AsyncIterator[str]:
    """``trio_ws.serve(app, observer=...)`` on 127.0.0.1:0; yields its ``ws://`` URL."""
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            partial(serve, app, "127.0.0.1", 0, observer=observer, **settings)
        )
        yield urls[0]
        nursery.cancel_scope.cancel()


async def http_get(url: str) -> tuple[int, str]:
    """GET ``http://host:port/path`` over a real socket; the status and the body."""
    rest = url.removeprefix("http://")
    address, _, path = rest.partition("/")
    host, _, port = address.rpartition(":")
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        request = f"GET /{path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n"
        await stream.send_all(request.encode())
        data = b""
        while chunk := await stream.receive_some():
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        body = _unchunk(body)
    return status, body.decode()


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += body[:size]
        body = body[size + 2 :]
    return out


def samples(text: str) -> dict[str, float]:
    """Prometheus text as ``{"name{label="v",...}": value}`` (via prometheus_client's parser)."""
    from prometheus_client.parser import text_string_to_metric_families

    result: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            result[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return result

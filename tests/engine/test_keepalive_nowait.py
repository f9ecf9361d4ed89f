"""A keepalive ping needs no task of its own while the application is reading: it is written
at once and the application's read takes the pong. Otherwise a ping task writes it and reads
for the pong itself."""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
import trio
from websockets.sync.client import connect as sync_connect

from trio_ws import keepalive_latency
from trio_ws._engine._connection import EngineConnection
from trio_ws.testing import serve_app

if TYPE_CHECKING:
    from trio_ws._types import Receive, Scope, Send


def _counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    counts = {"at_once": 0, "task": 0}
    ping_now, ping = EngineConnection.ping_now, EngineConnection.ping

    def counted_ping_now(self: EngineConnection, payload: bytes, frame: bytes) -> bool:
        sent = ping_now(self, payload, frame)
        counts["at_once"] += sent
        return sent

    async def counted_ping(self: EngineConnection, payload: bytes) -> None:
        counts["task"] += 1
        await ping(self, payload)

    monkeypatch.setattr(EngineConnection, "ping_now", counted_ping_now)
    monkeypatch.setattr(EngineConnection, "ping", counted_ping)
    return counts


def _app(seen: list[Any], counts: dict[str, int], *, busy: float) -> Any:
    """Accept; spend ``busy`` seconds not reading (0: read at once); then read one message
    and report the measured latency and how the pings so far were written (the pings while it
    answers and closes, when it briefly does not read, are not the question)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        await trio.sleep(busy)
        message = await receive()
        seen.append((message.get("text"), keepalive_latency(scope), dict(counts)))
        await send({"type": "websocket.send", "text": "bye"})
        await receive()

    return app


def _client(url: str, quiet: float) -> str:
    with sync_connect(url, open_timeout=5) as ws:  # websockets answers pings by itself
        time.sleep(quiet)
        ws.send("done")
        return str(ws.recv(timeout=5))


@pytest.mark.parametrize(
    ("busy", "expect"),
    [
        (0.0, "at_once"),  # reading: each ping is written at once, the app's read takes the pong
        (1.0, "task"),  # not reading: ping tasks write the pings and read the pongs
    ],
)
async def test_who_writes_a_ping_depends_on_whether_the_application_reads(
    monkeypatch: pytest.MonkeyPatch, busy: float, expect: str
) -> None:
    counts = _counting(monkeypatch)
    seen: list[Any] = []
    with trio.fail_after(15):
        app = _app(seen, counts, busy=busy)
        async with serve_app(app, ping_interval=0.1, ping_timeout=0.5) as url:
            assert await trio.to_thread.run_sync(partial(_client, url, busy + 1.0)) == "bye"
    # the connection outlived ping_timeout, so pongs were read; the latency was measured
    [(text, latency, written)] = seen
    assert written[expect] >= 3
    if expect == "at_once":
        assert written["task"] == 0
    assert text == "done"
    assert isinstance(latency, float)

"""A keepalive ping needs no task of its own while the application is reading: it is written
at once and the application's read takes the pong. Otherwise a ping task writes it and reads
for the pong itself."""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING, Any

import trio
from websockets.sync.client import connect as sync_connect

from trio_ws import keepalive_latency
from trio_ws._engine._connection import EngineConnection
from trio_ws.testing import serve_app

if TYPE_CHECKING:
    import pytest

    from trio_ws._types import Receive, Scope, Send


def _counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    counts = {"at_once": 0, "task": 0}
    ping_now, ping = EngineConnection.ping_now, EngineConnection.ping

    def counted_ping_now(self: EngineConnection, payload: bytes) -> bool:
        sent = ping_now(self, payload)
        counts["at_once"] += sent
        return sent

    async def counted_ping(self: EngineConnection, payload: bytes) -> None:
        counts["task"] += 1
        await ping(self, payload)

    monkeypatch.setattr(EngineConnection, "ping_now", counted_ping_now)
    monkeypatch.setattr(EngineConnection, "ping", counted_ping)
    return counts


def _app(seen: list[Any], *, busy: float) -> Any:
    """Accept; spend ``busy`` seconds not reading (0: read at once); then read one message
    and report the measured latency."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        await trio.sleep(busy)
        message = await receive()
        seen.append((message.get("text"), keepalive_latency(scope)))
        await send({"type": "websocket.send", "text": "bye"})
        await receive()

    return app


def _client(url: str, quiet: float) -> str:
    with sync_connect(url, open_timeout=5) as ws:  # websockets answers pings by itself
        time.sleep(quiet)
        ws.send("done")
        return str(ws.recv(timeout=5))


async def test_pings_to_a_reading_application_are_written_without_a_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counts = _counting(monkeypatch)
    seen: list[Any] = []
    with trio.fail_after(15):
        async with serve_app(_app(seen, busy=0), ping_interval=0.1, ping_timeout=0.5) as url:
            assert await trio.to_thread.run_sync(partial(_client, url, 1.0)) == "bye"
    assert counts["task"] == 0
    assert counts["at_once"] >= 3
    [(text, latency)] = seen
    assert text == "done"
    assert isinstance(latency, float)  # the application's own read took the pongs


async def test_pings_to_a_busy_application_go_through_a_task_that_reads_the_pong(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counts = _counting(monkeypatch)
    seen: list[Any] = []
    with trio.fail_after(15):
        async with serve_app(_app(seen, busy=1.0), ping_interval=0.1, ping_timeout=0.5) as url:
            assert await trio.to_thread.run_sync(partial(_client, url, 1.2)) == "bye"
    assert counts["task"] >= 3  # and the connection outlived ping_timeout: pongs were read
    [(text, latency)] = seen
    assert text == "done"
    assert isinstance(latency, float)

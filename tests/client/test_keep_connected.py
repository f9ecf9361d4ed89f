"""Requirement 6: ``trio_ws.keep_connected`` over real servers (one of them restarted on the
same port), and its backoff as a sans-I/O object."""

from __future__ import annotations

import contextlib
import itertools
import random
import socket
from functools import partial
from typing import TYPE_CHECKING

import pytest
import trio

import trio_ws
from trio_ws.client._backoff import Backoff

from ._servers import SERVER_KINDS, closed, echo_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

FAST = {"min_delay": 0.01, "max_delay": 0.05}


@contextlib.asynccontextmanager
async def serving_on(app: trio_ws.WebSocketApp, port: int) -> AsyncIterator[str]:
    """trio_ws.serve on 127.0.0.1:``port`` until the block ends (then a graceful shutdown)."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            partial(
                trio_ws.serve,
                app,
                "127.0.0.1",
                port,
                shutdown_trigger=stop.wait,
                graceful_timeout=1.0,
            )
        )
        try:
            yield urls[0]
        finally:
            stop.set()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("kind", SERVER_KINDS)
async def test_returns_the_handler_result_when_the_client_stops(kind: str) -> None:
    calls = 0

    async def handler(ws: trio_ws.ClientWebSocket) -> str:
        nonlocal calls
        calls += 1
        await ws.send_text("hi")
        return await ws.receive_text()

    with trio.fail_after(10):
        async with echo_server(kind) as (url, seen):
            assert await trio_ws.keep_connected(url, handler, **FAST) == "hi"
            assert await closed(seen) == (1000, "")
    assert calls == 1


@pytest.mark.parametrize("kind", SERVER_KINDS)
async def test_reconnects_when_the_server_ends_the_connection(kind: str) -> None:
    calls = 0

    async def handler(ws: trio_ws.ClientWebSocket) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await ws.send_text("close 1012 restarting")
            async for _ in ws.iter_text():
                pass  # ends with the server's close: the handler returns, not the client's end
            return "not this one"
        if calls == 2:
            await ws.send_text("close 1001 going away")
            await ws.receive_text()  # raises WebSocketDisconnect: also the server's end
        return "third"

    with trio.fail_after(10):
        async with echo_server(kind) as (url, seen):
            assert await trio_ws.keep_connected(url, handler, **FAST) == "third"
            assert await closed(seen) == (1012, "restarting")
            assert await closed(seen) == (1001, "going away")
            assert await closed(seen) == (1000, "")
    assert calls == 3


@pytest.mark.parametrize("kind", SERVER_KINDS)
async def test_reconnects_when_the_client_fails_a_connection_the_server_broke(kind: str) -> None:
    """A message over ``max_message_size`` makes the client fail the connection (1009): the
    client closed it, but only because of the server, so it reconnects."""
    ends: list[tuple[int | None, object, bool]] = []

    async def handler(ws: trio_ws.ClientWebSocket) -> str:
        if not ends:
            await ws.send_text("x" * 200)  # echoed back: over the limit
            try:
                await ws.receive_text()
            finally:
                ends.append((ws.close_code, ws.closed_by, ws.protocol_failed))
        await ws.send_text("ok")
        return await ws.receive_text()

    with trio.fail_after(10):
        async with echo_server(kind) as (url, seen):
            result = await trio_ws.keep_connected(url, handler, max_message_size=100, **FAST)
            assert result == "ok"
            assert (await closed(seen))[0] == 1009
            assert await closed(seen) == (1000, "")
    assert ends == [(1009, trio_ws.ClientClosedBy.CLIENT, True)]


async def test_a_websocket_exception_stops_and_returns_none() -> None:
    async def handler(ws: trio_ws.ClientWebSocket) -> str:
        raise trio_ws.WebSocketException(4000, "enough")

    with trio.fail_after(10):
        async with echo_server("trio_ws") as (url, seen):
            assert await trio_ws.keep_connected(url, handler, **FAST) is None
            assert await closed(seen) == (4000, "enough")


async def test_a_handler_error_propagates_unwrapped_without_reconnecting() -> None:
    calls = 0

    async def handler(ws: trio_ws.ClientWebSocket) -> None:
        nonlocal calls
        calls += 1
        raise KeyError("bug")

    with trio.fail_after(10):
        async with echo_server("websockets") as (url, seen):
            with pytest.raises(KeyError, match="bug"):
                await trio_ws.keep_connected(url, handler, **FAST)
            assert (await closed(seen))[0] == 1011
    assert calls == 1


async def test_503_is_retried_and_403_is_raised() -> None:
    statuses = [503, 503, None, 403]
    attempts = 0

    @trio_ws.websocket_app
    async def app(ws: trio_ws.WebSocket) -> None:
        nonlocal attempts
        status = statuses[attempts]
        attempts += 1
        if status is not None:
            await ws.send_denial_response(trio_ws.Response(b"", status))
            return
        await ws.accept()
        await ws.close(1013, "try again later")

    async def handler(ws: trio_ws.ClientWebSocket) -> None:
        await ws.receive_text()

    with trio.fail_after(10):
        async with serving_on(app, 0) as url:
            with pytest.raises(trio_ws.HandshakeRejected) as rejected:
                await trio_ws.keep_connected(url, handler, **FAST)
    assert rejected.value.status_code == 403
    assert attempts == 4


async def test_survives_a_server_restart_on_the_same_port() -> None:
    port = _free_port()
    attempts = 0
    enough_failures = trio.Event()

    def url() -> str:
        nonlocal attempts
        attempts += 1
        if attempts >= 4:
            enough_failures.set()
        return f"ws://127.0.0.1:{port}/feed"

    def greeter(name: str) -> trio_ws.WebSocketApp:
        @trio_ws.websocket_app
        async def app(ws: trio_ws.WebSocket) -> None:
            await ws.accept()
            await ws.send_text(f"hello from {name}")
            await trio.sleep_forever()  # until the server shuts down (1001)

        return app

    greetings: list[str] = []
    first_seen = trio.Event()

    async def handler(ws: trio_ws.ClientWebSocket) -> str:
        greeting = await ws.receive_text()
        greetings.append(greeting)
        if greeting == "hello from A":
            first_seen.set()
            await ws.receive_text()  # until A shuts down
        return greeting

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            results: list[str | None] = []
            returned = trio.Event()

            async def client() -> None:
                results.append(await trio_ws.keep_connected(url, handler, **FAST))
                returned.set()

            async with serving_on(greeter("A"), port):
                nursery.start_soon(client)
                await first_seen.wait()
            # A is down: attempts now fail with TCPConnectError and are retried.
            await enough_failures.wait()
            async with serving_on(greeter("B"), port):
                await returned.wait()
    assert results == ["hello from B"]
    assert greetings == ["hello from A", "hello from B"]
    assert attempts >= 4


async def test_failed_attempts_wait_at_least_min_delay() -> None:
    port = _free_port()  # nothing listens: every attempt fails at once
    times: list[float] = []

    def url() -> str:
        times.append(trio.current_time())
        return f"ws://127.0.0.1:{port}/"

    async def handler(ws: trio_ws.ClientWebSocket) -> None:
        raise AssertionError("never connected")

    with trio.move_on_after(1.0), trio.fail_after(10):
        await trio_ws.keep_connected(url, handler, min_delay=0.05, max_delay=0.2)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(gaps) >= 3
    assert all(gap >= 0.05 for gap in gaps)


# ---------------------------------------------------------------------- the backoff, sans-I/O


def test_backoff_grows_exponentially_with_jitter_up_to_max_delay() -> None:
    backoff = Backoff(1.0, 60.0, reset_after=10.0, rng=random.Random(1))
    delays = [backoff.next_delay(None) for _ in range(12)]
    for failures, delay in enumerate(delays):
        assert 1.0 <= delay <= min(60.0, 2.0**failures)
    assert delays[0] == 1.0  # the first retry waits exactly min_delay
    assert max(delays) > 30.0  # the cap reached max_delay
    assert len(set(delays[1:])) == len(delays) - 1  # jittered, not a fixed sequence


def test_backoff_resets_after_a_connection_that_lived_long_enough() -> None:
    backoff = Backoff(1.0, 60.0, reset_after=10.0, rng=random.Random(2))
    for _ in range(8):
        backoff.next_delay(None)
    assert backoff.next_delay(9.9) >= 1.0  # too short-lived: still backing off
    assert backoff.next_delay(10.0) == 1.0  # reset: the first step again
    assert backoff.next_delay(None) <= 2.0


def test_backoff_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="min_delay"):
        Backoff(0, 1.0, 1.0)
    with pytest.raises(ValueError, match="less than"):
        Backoff(2.0, 1.0, 1.0)


async def test_the_waits_between_attempts_follow_the_backoff_in_virtual_time(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """keep_connected sleeps what the backoff says after each failed attempt (virtual time: the
    waits up to max_delay=60 s take no real time)."""
    times: list[float] = []

    def failing_connect(url: str, **options: object) -> object:
        times.append(trio.current_time())
        if len(times) == 8:
            raise trio_ws.HandshakeRejected(url, 403)  # not worth retrying: ends the test
        raise trio_ws.TCPConnectError(url, "refused")

    monkeypatch.setattr("trio_ws.client._keep_connected.connect", failing_connect)

    async def handler(ws: trio_ws.ClientWebSocket) -> None:
        raise AssertionError("never connected")

    with pytest.raises(trio_ws.HandshakeRejected):
        await trio_ws.keep_connected(
            "ws://example.invalid/", handler, min_delay=1.0, max_delay=20.0
        )
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(gaps) == 7
    assert gaps[0] == pytest.approx(1.0)  # the first retry waits min_delay
    for failures, gap in enumerate(gaps):
        assert 1.0 <= gap <= min(20.0, 2.0**failures) + 1e-9
    assert max(gaps) > 4.0  # it did back off

"""Structured mode over real hypercorn (trio worker) and real clients.

These pin the hypercorn behaviours our design exists for (docs/hypercorn-facts.md): sends after
the client left are silent no-ops, an app that stops reading stops pongs, a cancelled send
corrupts a permessage-deflate stream, shutdown cancels handlers without a close frame.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, DisconnectionTimeout, open_websocket_url

from trio_ws import ClosedBy, WebSocket, websocket_app
from trio_ws.testing import serve_app

from ._plain_hypercorn import CLIENT, PlainHypercorn

pytestmark = pytest.mark.hypercorn


async def test_a_send_only_handler_notices_the_client_leaving(
    plain_hypercorn: PlainHypercorn,
) -> None:
    """hypercorn drops sends to a departed client silently; structured mode raises
    WebSocketDisconnect on the next send and records a client close (1006 under hypercorn)."""
    outcome: list[Any] = []
    done = trio.Event()

    async def ticker(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text("tick")
                await trio.sleep(0.01)
        finally:
            outcome.append((ws.closed_by, ws.close_code))
            done.set()

    with trio.fail_after(10):
        async with plain_hypercorn(websocket_app(ticker)) as url:
            async with open_websocket_url(url, **CLIENT) as client:
                assert await client.get_message() == "tick"
            await done.wait()
    assert outcome == [(ClosedBy.CLIENT, 1006)]


@pytest.mark.parametrize("structured", [True, False], ids=["structured", "direct"])
async def test_pings_are_answered_only_while_someone_drains_the_queue(
    plain_hypercorn: PlainHypercorn, structured: bool
) -> None:
    """A handler that never reads: with the pump (drop_oldest), the client's ping is answered
    after 100 messages; in direct mode hypercorn's 10-slot queue fills and the pong never comes
    (docs/hypercorn-facts.md, fact 3)."""

    async def sink(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan here")
        ws = WebSocket(scope, receive, send)
        if structured:
            from trio_ws import ConnectionOptions

            async with WebSocket(
                scope, receive, send, options=ConnectionOptions(overflow="drop_oldest")
            ) as ws:
                await ws.accept()
                await ws.wait_disconnected()
        else:
            await ws.accept()
            await trio.sleep_forever()

    with trio.fail_after(15):
        async with plain_hypercorn(sink, graceful_timeout=0.2) as url:
            stalled = (
                contextlib.nullcontext() if structured else pytest.raises(DisconnectionTimeout)
            )
            with stalled:  # in direct mode hypercorn never processes the client's close either
                async with open_websocket_url(url, **CLIENT) as client:
                    for i in range(100):
                        await client.send_message(f"m{i}")
                    with trio.move_on_after(2) as waited:
                        await client.ping(b"alive?")
                    assert waited.cancelled_caught is (not structured)


async def test_an_error_closes_with_1011_without_leaking_its_text(
    plain_hypercorn: PlainHypercorn,
) -> None:
    """The handler's exception closes with 1011 and an empty reason; the server logs it."""

    async def failing(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_text()
        raise ValueError("database password is hunter2")

    with trio.fail_after(10):
        async with (
            plain_hypercorn(websocket_app(failing), expect_errors=True) as url,
            open_websocket_url(url, **CLIENT) as client,
        ):
            await client.send_message("go")
            with pytest.raises(ConnectionClosed) as info:
                await client.get_message()
    assert info.value.reason.code == 1011
    assert not info.value.reason.reason


async def test_shutdown_closes_open_connections_with_1012(plain_hypercorn: PlainHypercorn) -> None:
    """Plain hypercorn cancels handlers after graceful_timeout and sends nothing; structured
    mode turns that cancellation into a close 1012 that reaches the client."""

    async def idle(ws: WebSocket) -> None:
        await ws.accept()
        await trio.sleep_forever()

    codes: list[int] = []
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            ready = trio.Event()

            async def client(url: str) -> None:
                async with open_websocket_url(url, **CLIENT) as ws:
                    ready.set()
                    with pytest.raises(ConnectionClosed) as info:
                        await ws.get_message()
                    codes.append(info.value.reason.code)

            async with plain_hypercorn(websocket_app(idle), graceful_timeout=0.3) as url:
                nursery.start_soon(client, url)
                await ready.wait()
                await trio.sleep(0.1)
            # leaving plain_hypercorn triggered the shutdown and waited for it
    assert codes == [1012]


async def test_receives_against_hypercorn_lose_nothing_under_cancellation(
    plain_hypercorn: PlainHypercorn,
) -> None:
    """2,000 sequenced messages through hypercorn, receives under random move_on_after."""
    count = 2000
    rng = random.Random(7)
    received: list[int] = []
    counts = {"attempts": 0, "cancelled": 0}
    finished = trio.Event()

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        while len(received) < count:
            counts["attempts"] += 1
            with trio.move_on_after(rng.choice([0, 1e-5, 1e-4, 1e-3])) as scope:
                received.append(int(await ws.receive_text()))
            counts["cancelled"] += scope.cancelled_caught
        await ws.send_text("done")
        finished.set()

    with trio.fail_after(60):
        async with (
            plain_hypercorn(websocket_app(handler)) as url,
            open_websocket_url(url, **CLIENT) as client,
        ):
            for i in range(count):
                await client.send_message(str(i))
            assert await client.get_message() == "done"
    assert received == list(range(count))
    assert counts["cancelled"] >= 0.2 * counts["attempts"], counts


DEFLATE_COUNT = 300


def _deflate_payload(task: str, i: int) -> str:
    return f"{task}:{i}:" + (f"{task}{i % 10}" * 400)


async def _two_senders(send_text: Any) -> None:
    """One task sends steadily; the other sends under random short timeouts."""
    rng = random.Random(3)

    async def steady() -> None:
        for i in range(DEFLATE_COUNT):
            await send_text(_deflate_payload("s", i))

    async def hurried() -> None:
        for i in range(DEFLATE_COUNT):
            with trio.move_on_after(rng.choice([0, 1e-5, 1e-4])):
                await send_text(_deflate_payload("h", i))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(steady)
        nursery.start_soon(hurried)
    await send_text("end")


def _deflate_client(url: str) -> tuple[list[str], str | None, str | None]:
    """websockets' sync client with permessage-deflate: messages, extension header, error."""
    from websockets.sync.client import connect as sync_connect

    messages: list[str] = []
    extensions = error = None
    try:
        with sync_connect(url, compression="deflate", max_size=2**24, open_timeout=5) as ws:
            extensions = (
                ws.response.headers.get("Sec-WebSocket-Extensions") if ws.response else None
            )
            while (message := ws.recv(timeout=10)) != "end":
                messages.append(str(message))
    except Exception as exc:  # the corruption shows up as a protocol error in the client
        error = repr(exc)
    return messages, extensions, error


async def test_cancelled_sends_never_corrupt_a_deflate_stream(
    plain_hypercorn: PlainHypercorn,
) -> None:
    """Two tasks send compressible messages, one under random short timeouts, to a
    permessage-deflate client. Through trio_ws every message arrives intact: a cancelled send
    went out whole or not at all."""

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await _two_senders(ws.send_text)
        await ws.wait_disconnected()

    with trio.fail_after(60):
        async with plain_hypercorn(websocket_app(handler)) as url:
            messages, extensions, error = await trio.to_thread.run_sync(_deflate_client, url)
    assert error is None
    assert extensions is not None
    assert "permessage-deflate" in extensions
    assert len([m for m in messages if m.startswith("s:")]) == DEFLATE_COUNT
    for message in messages:
        task, index, _ = message.split(":", 2)
        assert message == _deflate_payload(task, int(index)), "corrupted message"


async def test_raw_cancelled_sends_do_corrupt_a_deflate_stream(
    plain_hypercorn: PlainHypercorn,
) -> None:
    """The hazard is real (docs/hypercorn-facts.md, fact 5): the same workload through the raw
    ASGI send makes hypercorn drop frames it had already compressed, and the client fails to
    inflate."""

    async def raw(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan")
        await receive()
        await send({"type": "websocket.accept"})
        await _two_senders(lambda text: send({"type": "websocket.send", "text": text}))
        while (await receive())["type"] != "websocket.disconnect":
            pass

    with trio.fail_after(60):
        async with plain_hypercorn(raw, expect_errors=True) as url:
            _, _, error = await trio.to_thread.run_sync(_deflate_client, url)
    assert error is not None
    assert "decompression failed" in error, error


async def test_trio_ws_serve_makes_even_raw_sends_cancel_safe() -> None:
    """Under trio_ws.serve the server's send is safe to cancel (and says so with the
    trio_ws.cancel_safe_send extension): the raw workload that corrupts plain hypercorn's
    deflate stream arrives intact, and so does trio_ws's, which then skips its own shield."""
    seen_extensions: list[bool] = []

    async def raw(scope: Any, receive: Any, send: Any) -> None:
        seen_extensions.append("trio_ws.cancel_safe_send" in scope["extensions"])
        await receive()
        await send({"type": "websocket.accept"})
        await _two_senders(lambda text: send({"type": "websocket.send", "text": text}))
        while (await receive())["type"] != "websocket.disconnect":
            pass

    async def structured(ws: WebSocket) -> None:
        await ws.accept()
        await _two_senders(ws.send_text)
        await ws.wait_disconnected()

    for app in (raw, websocket_app(structured)):
        with trio.fail_after(60):
            async with serve_app(app) as url:
                messages, extensions, error = await trio.to_thread.run_sync(_deflate_client, url)
        assert error is None
        assert extensions is not None
        assert "permessage-deflate" in extensions
        assert len([m for m in messages if m.startswith("s:")]) == DEFLATE_COUNT
        for message in messages:
            task, index, _ = message.split(":", 2)
            assert message == _deflate_payload(task, int(index)), "corrupted message"
    assert seen_extensions == [True]


@pytest.mark.parametrize("code", [1001, 1012])
async def test_trio_ws_serve_shutdown_is_recorded_as_the_servers(code: int) -> None:
    """Under trio_ws.serve the server closes open websockets itself on shutdown; a
    structured handler sees it as SERVER_SHUTDOWN with the server's code, and so does the
    client."""
    seen: list[Any] = []
    client_codes: list[int] = []

    async def idle(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.wait_disconnected()
        finally:
            seen.append((ws.closed_by, ws.close_code))

    async def client(url: str, ready: trio.Event) -> None:
        async with open_websocket_url(url, **CLIENT) as conn:
            ready.set()
            with pytest.raises(ConnectionClosed) as info:
                await conn.get_message()
            client_codes.append(info.value.reason.code)

    with trio.fail_after(15):
        async with (
            trio.open_nursery() as nursery,
            serve_app(websocket_app(idle), shutdown_close_code=code) as url,
        ):
            ready = trio.Event()
            nursery.start_soon(client, url, ready)
            await ready.wait()
    assert seen == [(ClosedBy.SERVER_SHUTDOWN, code)]
    assert client_codes == [code]


async def test_concurrent_senders_and_an_idempotent_close_over_hypercorn(
    plain_hypercorn: PlainHypercorn,
) -> None:
    """Points 7 and 9 on real sockets: three tasks send 100 messages each (whole, each
    task's order kept), a second receiver is busy, and closing twice sends one close."""
    outcome: list[Any] = []
    busy_checked = trio.Event()
    received = trio.Event()

    async def handler(ws: WebSocket) -> None:
        await ws.accept()

        async def sender(name: str) -> None:
            for i in range(100):
                await ws.send_text(f"{name}:{i}:" + name * 200)

        async def receiver() -> None:
            outcome.append(await ws.receive_text())
            received.set()

        ws.start_soon(receiver)
        await trio.testing.wait_all_tasks_blocked()
        try:
            await ws.receive_text()
        except trio.BusyResourceError:
            outcome.append("busy")
        busy_checked.set()
        async with trio.open_nursery() as nursery:
            for name in "abc":
                nursery.start_soon(sender, name)
        await received.wait()
        await ws.close(4000, "once")
        await ws.close(4001, "twice")
        outcome.append((ws.close_code, ws.close_reason, ws.closed_by))

    got: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    with trio.fail_after(20):
        async with (
            plain_hypercorn(websocket_app(handler)) as url,
            open_websocket_url(url, **CLIENT) as client,
        ):
            await busy_checked.wait()
            await client.send_message("to the first receiver")
            for _ in range(300):
                name, index, body = (await client.get_message()).split(":")
                assert body == name * 200
                got[name].append(int(index))
            with pytest.raises(ConnectionClosed) as info:
                await client.get_message()
    assert all(indices == list(range(100)) for indices in got.values())
    assert (info.value.reason.code, info.value.reason.reason) == (4000, "once")
    assert outcome == ["busy", "to the first receiver", (4000, "once", ClosedBy.APP)]

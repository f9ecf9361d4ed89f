"""Cancellation and concurrency in direct mode.

Receives and iterators are atomic under cancellation: random ``move_on_after`` around them
loses, duplicates or reorders nothing. A send either goes out whole or not at all; concurrent
senders go out in call order; a second concurrent receiver is a loud error.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from trio_ws import WebSocket
from trio_ws.testing import connect

TIMEOUTS = [0, 0, 1e-6, 1e-5, 1e-4, 1e-3]


def slowed(send: Any, delay: float) -> Any:
    """An ASGI send that takes ``delay`` seconds before handing the message on."""

    async def slow_send(message: Any) -> None:
        if message["type"] == "websocket.send":
            await trio.sleep(delay)
        await send(message)

    return slow_send


@pytest.mark.parametrize("use_iterator", [False, True], ids=["receive_text", "iter_text"])
async def test_receives_under_random_cancellation_lose_nothing(use_iterator: bool) -> None:
    """2,000 sequenced messages, many receives cancelled: 0 lost, 0 duplicated, 0 reordered."""
    count = 2000
    rng = random.Random(1234)
    received: list[int] = []
    cancelled = 0
    attempts = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal cancelled, attempts
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        iterator = ws.iter_text()
        while len(received) < count:
            attempts += 1
            with trio.move_on_after(rng.choice(TIMEOUTS)) as scope_:
                text = await (anext(iterator) if use_iterator else ws.receive_text())
                received.append(int(text))
            if scope_.cancelled_caught:
                cancelled += 1
        await ws.close()

    with trio.fail_after(60):
        async with connect(app) as client:
            for i in range(count):
                await client.send_text(str(i))
                if i % 7 == 0:
                    await trio.lowlevel.checkpoint()
            await client.wait_app_finished()
    assert received == list(range(count))
    assert cancelled >= 0.2 * attempts, (cancelled, attempts)


async def test_a_cancelled_send_goes_out_whole() -> None:
    """Without the cancel-safe-send extension (hypercorn), trio_ws shields the send: once the
    server has the message, cancelling the sender does not cut it off. The call returns
    normally and the client receives the message whole."""
    outcome: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, slowed(send, 0.05))
        await ws.accept()
        with trio.move_on_after(0.01) as cancel_scope:
            await ws.send_text("whole")
            outcome.append("returned")
        outcome.append(cancel_scope.cancelled_caught)
        await ws.close()

    with trio.fail_after(5):
        async with connect(app) as client:
            assert await client.receive_text() == "whole"
            await client.wait_app_finished()
    assert outcome == ["returned", False]


async def test_a_cancel_safe_server_send_is_not_shielded() -> None:
    """With trio_ws.cancel_safe_send declared, the server's own atomicity is relied on: the
    cancelled send raises Cancelled and sends nothing; the next send goes out."""
    outcome: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, slowed(send, 0.05))
        await ws.accept()
        with trio.move_on_after(0.01) as cancel_scope:
            await ws.send_text("cancelled")
            outcome.append("returned")  # pragma: no cover - must not happen
        outcome.append(cancel_scope.cancelled_caught)
        await ws.send_text("next")
        await ws.close()

    with trio.fail_after(5):
        async with connect(app, cancel_safe_send=True) as client:
            assert await client.receive_text() == "next"
            await client.wait_app_finished()
            texts = [m.get("text") for m in client.app_messages if m["type"] == "websocket.send"]
    assert outcome == [True]
    assert texts == ["next"]


async def test_a_send_cancelled_while_queued_sends_nothing() -> None:
    """A sender cancelled while waiting behind another send never sends its message."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, slowed(send, 0.05))
        await ws.accept()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws.send_text, "first")
            await trio.testing.wait_all_tasks_blocked()
            with trio.move_on_after(0.01) as cancel_scope:
                await ws.send_text("cancelled")
            assert cancel_scope.cancelled_caught
        await ws.send_text("third")
        await ws.close()

    with trio.fail_after(5):
        async with connect(app) as client:
            assert [await client.receive_text(), await client.receive_text()] == [
                "first",
                "third",
            ]
            await client.wait_app_finished()
            texts = [m.get("text") for m in client.app_messages if m["type"] == "websocket.send"]
    assert texts == ["first", "third"]


async def test_concurrent_senders_go_out_in_call_order() -> None:
    """Senders that queue behind a slow send are served first come, first served."""
    order = [f"task {i}" for i in range(6)]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, slowed(send, 0.01))
        await ws.accept()
        async with trio.open_nursery() as nursery:
            for text in order:
                nursery.start_soon(ws.send_text, text)
                await trio.testing.wait_all_tasks_blocked()
        await ws.close()

    with trio.fail_after(5):
        async with connect(app) as client:
            got = [await client.receive_text() for _ in order]
    assert got == order


async def test_many_concurrent_senders_never_interleave() -> None:
    """Three tasks sending 100 messages each: every message whole, each task's order kept."""
    per_task = 100

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, slowed(send, 0))
        await ws.accept()

        async def sender(name: str) -> None:
            for i in range(per_task):
                await ws.send_text(f"{name}:{i}:" + name * 50)

        async with trio.open_nursery() as nursery:
            for name in "abc":
                nursery.start_soon(sender, name)
        await ws.close()

    got: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    with trio.fail_after(20):
        async with connect(app) as client:
            for _ in range(3 * per_task):
                name, index, body = (await client.receive_text()).split(":")
                assert body == name * 50
                got[name].append(int(index))
    assert all(indices == list(range(per_task)) for indices in got.values())


async def test_a_second_concurrent_receiver_is_busy() -> None:
    """Two tasks receiving at once: the second gets trio.BusyResourceError; the first still
    gets the message."""
    outcome: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()

        async def first() -> None:
            outcome.append(await ws.receive_text())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(first)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                await ws.receive_text()
            outcome.append("busy")
            go.set()
        await ws.close()

    go = trio.Event()
    with trio.fail_after(5):
        async with connect(app) as client:
            await go.wait()
            await client.send_text("for the first")
            await client.wait_app_finished()
    assert outcome == ["busy", "for the first"]


async def test_close_works_while_the_caller_is_being_cancelled() -> None:
    """close() inside an already-cancelled scope still sends the close, then raises Cancelled."""
    outcome: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        with trio.CancelScope() as cancel_scope:
            cancel_scope.cancel()
            try:
                await ws.close(4005, "cancelled but closed")
            finally:
                outcome.append(ws.close_code)
        outcome.append(cancel_scope.cancelled_caught)

    with trio.fail_after(5):
        async with connect(app) as client:
            await client.wait_app_finished()
            assert (client.close_code, client.close_reason) == (4005, "cancelled but closed")
    assert outcome == [4005, True]


async def test_close_is_bounded_when_a_send_is_stuck(autojump_clock: trio.abc.Clock) -> None:
    """If another send holds the connection longer than close_timeout, close() gives up."""
    outcome: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        from trio_ws import ConnectionOptions

        options = ConnectionOptions(close_timeout=0.2)
        ws = WebSocket(scope, receive, slowed(send, 10), options=options)
        await ws.accept()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws.send_text, "stuck")
            await trio.testing.wait_all_tasks_blocked()
            start = trio.current_time()
            await ws.close()
            outcome.append(trio.current_time() - start)
            nursery.cancel_scope.cancel()

    with trio.fail_after(30):
        async with connect(app, close_timeout=30) as client:
            await client.wait_app_finished()
    assert outcome == [pytest.approx(0.2)]

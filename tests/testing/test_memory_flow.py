"""Backpressure, cancellation, app exceptions and the lifetime of the app's task."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from trio_ws import testing

if TYPE_CHECKING:
    from conftest import HeldReader

    from trio_ws._types import Receive, Scope, Send


async def test_full_receive_queue_blocks_the_clients_send_atomically(
    held_reader: HeldReader,
) -> None:
    """With queue_size slots unread, the next send blocks; cancelling it sends nothing."""
    app, release, seen = held_reader.app, held_reader.release, held_reader.seen

    with trio.fail_after(5):
        async with testing.connect(app, queue_size=3) as ws:
            for index in range(3):
                with trio.move_on_after(1) as scope:
                    await ws.send_text(str(index))
                assert not scope.cancelled_caught
            with trio.move_on_after(0.01) as scope:
                await ws.send_text("blocked")
            assert scope.cancelled_caught
            release.set()
            await ws.send_text("3")
    assert [m.get("text") for m in seen] == ["0", "1", "2", "3", None]
    assert seen[-1]["code"] == 1000


async def test_default_queue_holds_ten_messages_like_hypercorn() -> None:
    """queue_size defaults to hypercorn's max_app_queue_size of 10."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await trio.sleep_forever()

    sent = 0
    with trio.fail_after(5):
        async with testing.connect(app, close_timeout=0) as ws:
            while True:
                with trio.move_on_after(0.01) as scope:
                    await ws.send_bytes(b"x")
                if scope.cancelled_caught:
                    break
                sent += 1
    assert sent == 10


async def test_receive_is_atomic_under_cancellation(autojump_clock: object) -> None:
    """Tight move_on_after timeouts around receive() never lose or reorder a message."""
    count = 200

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        for index in range(count):
            await trio.sleep(0.003 * (index % 4))
            await send({"type": "websocket.send", "text": str(index)})
        await send({"type": "websocket.close"})

    received: list[str | bytes] = []
    timeouts = 0
    with trio.fail_after(60):
        async with testing.connect(app) as ws:
            while True:
                with trio.move_on_after(0.002) as scope:
                    try:
                        received.append(await ws.receive())
                    except testing.ConnectionClosed:
                        break
                timeouts += scope.cancelled_caught
    assert received == [str(index) for index in range(count)]
    assert timeouts > 0  # the timeouts really fired while waiting


async def test_receive_keeps_a_message_that_arrives_as_it_is_cancelled() -> None:
    """The worst case for atomicity: the message is handed over, then the cancel lands.

    The app wakes the waiting receiver with a message and cancels its scope in the same
    step. The receiver must still return that message: an await after taking it would lose it.
    """
    count = 20
    scopes: list[trio.CancelScope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        for index in range(count):
            await trio.testing.wait_all_tasks_blocked()  # the client waits in receive()
            await send({"type": "websocket.send", "text": str(index)})
            scopes[-1].cancel()  # no checkpoint between the hand-over and the cancel
        await send({"type": "websocket.close"})

    received: list[str | bytes] = []
    with trio.fail_after(5):
        async with testing.connect(app) as ws:
            while True:
                with trio.CancelScope() as cancel_scope:
                    scopes.append(cancel_scope)
                    try:
                        received.append(await ws.receive())
                    except testing.ConnectionClosed:
                        break
    assert received == [str(index) for index in range(count)]


async def test_app_exception_after_accept_propagates_unwrapped() -> None:
    """The app's exception leaves connect() as itself, not inside an ExceptionGroup."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        raise KeyError("from the app")

    async def conversation() -> None:
        async with testing.connect(app) as ws:
            await ws.send_text("trigger")
            with pytest.raises(testing.ConnectionClosed) as closed:
                await ws.receive()
            codes.append(closed.value.code)
            codes.append(ws.close_code)

    codes: list[int | None] = []
    with trio.fail_after(5), pytest.raises(KeyError) as info:
        await conversation()
    assert type(info.value) is KeyError
    assert codes == [1011, 1011]


async def test_app_exception_wins_over_the_body_exception_it_caused() -> None:
    """When the body fails because the app crashed, the app's exception is the one raised."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        raise ValueError("root cause")

    with trio.fail_after(5), pytest.raises(ValueError, match="root cause") as info:
        async with testing.connect(app) as ws:
            await ws.receive()
    assert any("ConnectionClosed" in note for note in info.value.__notes__)


async def test_app_exception_is_recorded_when_not_reraised() -> None:
    """With raise_app_exceptions=False the exception is only recorded on the client."""
    error = RuntimeError("quiet")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        raise error

    with trio.fail_after(5):
        async with testing.connect(app, raise_app_exceptions=False) as ws:
            await ws.wait_app_finished()
    assert ws.app_exception is error
    assert ws.close_code == 1011


async def test_body_exception_propagates_unwrapped_and_cancels_the_app() -> None:
    """An exception in the body comes out as itself; the app is cancelled, not waited for."""
    cancelled = trio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            cancelled.set()
            raise

    with trio.fail_after(5), pytest.raises(LookupError) as info:
        async with testing.connect(app):
            raise LookupError("from the body")
    assert type(info.value) is LookupError
    assert cancelled.is_set()


async def test_app_ignoring_the_close_is_cancelled_after_close_timeout(
    autojump_clock: object,
) -> None:
    """On exit the app gets close_timeout seconds to finish, then it is cancelled."""
    outcome: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            outcome.append(trio.current_time())
            raise

    with trio.fail_after(60):
        start = trio.current_time()
        async with testing.connect(app, close_timeout=7) as ws:
            pass
    assert outcome == [pytest.approx(start + 7)]
    assert ws.app_finished
    assert ws.close_code == 1000


async def test_outside_cancellation_cancels_app_and_handshake() -> None:
    """Cancelling around connect() stops a handshake that never ends, without errors."""
    with trio.fail_after(5):
        with trio.move_on_after(0.01) as scope:

            async def silent(scope: Scope, receive: Receive, send: Send) -> None:
                await trio.sleep_forever()

            async with testing.connect(silent):
                pytest.fail("the app never accepts")
        assert scope.cancelled_caught


async def test_outside_cancellation_of_the_body_is_not_replaced_by_an_app_error() -> None:
    """A Cancelled leaving the body propagates to its scope even if the app then raises."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await trio.sleep_forever()
        finally:
            raise ZeroDivisionError("raised while being cancelled")

    with trio.fail_after(5):
        with trio.move_on_after(0.01) as scope:
            async with testing.connect(app):
                await trio.sleep_forever()
        assert scope.cancelled_caught


async def test_time_based_apps_run_instantly_under_autojump_clock(
    autojump_clock: object,
) -> None:
    """No threads or real I/O: a conversation spanning an hour of trio time is instant."""

    async def ticker(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        for tick in range(3):
            await trio.sleep(1200)
            await send({"type": "websocket.send", "text": f"tick {tick}"})
        await send({"type": "websocket.close", "code": 1000, "reason": "an hour later"})

    with trio.fail_after(4000):
        start = trio.current_time()
        async with testing.connect(ticker) as ws:
            assert [await ws.receive() for _ in range(3)] == ["tick 0", "tick 1", "tick 2"]
            with pytest.raises(testing.ConnectionClosed, match="an hour later"):
                await ws.receive()
        assert trio.current_time() - start == pytest.approx(3600)


async def test_concurrent_senders_and_receivers_keep_fifo_order() -> None:
    """Messages sent from one task arrive in order while another task receives."""
    count = 50

    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"]})

    received: list[str | bytes] = []
    with trio.fail_after(5):
        async with testing.connect(echo, queue_size=1) as ws:

            async def sender() -> None:
                for index in range(count):
                    await ws.send_text(str(index))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(sender)
                for _ in range(count):
                    received.append(await ws.receive())
                await trio.testing.wait_all_tasks_blocked()
    assert received == [str(index) for index in range(count)]

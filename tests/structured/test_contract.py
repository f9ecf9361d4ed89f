"""Structured mode's contract, point by point, over the in-memory client.

``async with WebSocket(scope, receive, send) as ws:`` owns a nursery with a receive pump.
Each test names the contract point it checks (issue #3, points 1-10).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from tests.structured._support import PumpSteps
from trio_ws import (
    ClosedBy,
    ConnectionOptions,
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    WebSocketState,
    websocket_app,
)
from trio_ws._reader import MAX_TAKEOVER_DELAY, TAKEOVER_DELAY
from trio_ws.testing import ConnectionClosed, ConnectionRejected, connect


def structured_app(handler: Any, **options: Any) -> Any:
    """A plain ASGI app running ``handler(ws)`` inside the structured block."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async with WebSocket(scope, receive, send, options=ConnectionOptions(**options)) as ws:
            await handler(ws)

    return app


# 1. --------------------------------------------------------------------------------------


async def test_a_send_only_handler_learns_of_the_disconnect_at_once() -> None:
    """Point 1: a handler that never receives gets WebSocketDisconnect from its next send."""
    outcome: list[Any] = []

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text("tick")
                await trio.sleep(0.01)
        except WebSocketDisconnect as exc:
            outcome.append((exc.code, ws.closed_by))
            raise

    with trio.fail_after(5):
        async with connect(structured_app(handler), spec_version="2.3") as client:
            assert await client.receive_text() == "tick"
            await client.close(4000)
            await client.wait_app_finished()
    assert outcome == [(4000, ClosedBy.CLIENT)]


async def test_messages_sent_before_leaving_are_all_delivered_first() -> None:
    """Point 1: receives drain what was buffered, then raise WebSocketDisconnect; sends fail
    as soon as the disconnect is seen; iter_text ends."""
    outcome: list[Any] = []

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.wait_disconnected()  # the pump has seen the disconnect; 5 messages buffered
        try:
            await ws.send_text("too late")
        except WebSocketDisconnect as exc:
            outcome.append(("send", exc.code))
        outcome.extend([m async for m in ws.iter_text()])
        outcome.append(ws.client_state)

    with trio.fail_after(5):
        async with connect(structured_app(handler)) as client:
            for i in range(5):
                await client.send_text(f"m{i}")
            await client.close(4001, "done")
            await client.wait_app_finished()
    assert outcome == [
        ("send", 4001),
        "m0",
        "m1",
        "m2",
        "m3",
        "m4",
        WebSocketState.DISCONNECTED,
    ]


# 2. --------------------------------------------------------------------------------------


async def test_the_pump_keeps_the_server_queue_drained_for_a_sender() -> None:
    """Point 2: with drop_oldest, a client can send far more than the server queue (10) plus
    our buffer while the handler only sends; the handler still sees the close."""
    outcome: list[Any] = []

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.wait_disconnected()
        outcome.append((ws.close_code, ws.statistics().dropped))

    app = structured_app(handler, inbound_buffer=4, overflow="drop_oldest")
    with trio.fail_after(5):
        async with connect(app, queue_size=10) as client:
            for i in range(200):
                await client.send_text(str(i))
            await client.close(4002)
            await client.wait_app_finished()
    assert outcome == [(4002, 196)]


async def test_block_policy_pushes_back_on_the_client() -> None:
    """Point 2: with the default "block" policy, a handler that never reads stops the client
    after our buffer plus the server queue are full; nothing is dropped."""
    sent = 0

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await trio.sleep_forever()

    app = structured_app(handler, inbound_buffer=5)
    with trio.fail_after(5):
        async with connect(app, queue_size=10) as client:
            with trio.move_on_after(0.5):
                while True:
                    await client.send_text("x")
                    sent += 1
            # The pump holds 5, one more waits in its hands, the server queue holds 10.
            assert 15 <= sent <= 17
            client.drop()


async def test_overflow_close_delivers_the_buffer_then_the_code() -> None:
    """Point 2: the "close" policy closes with 1008; buffered messages are still delivered,
    then WebSocketDisconnect(1008)."""
    outcome: list[Any] = []
    ready = trio.Event()

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ready.wait()
        await ws.wait_disconnected()
        try:
            while True:
                outcome.append(await ws.receive_text())
        except WebSocketDisconnect as exc:
            outcome.append((exc.code, exc.reason, ws.closed_by))

    app = structured_app(handler, inbound_buffer=3, overflow="close")
    with trio.fail_after(5):
        async with connect(app) as client:
            for i in range(4):
                await client.send_text(str(i))
            ready.set()
            with pytest.raises(ConnectionClosed) as info:
                await client.receive_text()
            assert info.value.code == 1008
            await client.wait_app_finished()
    assert outcome == ["0", "1", "2", (1008, "inbound buffer overflow", ClosedBy.APP)]


# 3. --------------------------------------------------------------------------------------


async def test_cancel_on_disconnect_ends_a_long_wait() -> None:
    """Point 3: a long wait inside cancel_on_disconnect() ends when the client leaves."""
    outcome: list[Any] = []

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        with ws.cancel_on_disconnect() as scope:
            await trio.sleep(3600)
        outcome.append(scope.cancelled_caught)
        with ws.cancel_on_disconnect() as late:
            await trio.sleep(3600)
        outcome.append(late.cancelled_caught)

    with trio.fail_after(5):
        async with connect(structured_app(handler)) as client:
            await client.close()
            await client.wait_app_finished()
    assert outcome == [True, True]


async def test_structured_only_features_need_the_block() -> None:
    """wait_disconnected, cancel_on_disconnect, nursery and statistics explain what they need."""
    ws = WebSocket({"type": "websocket"})
    with pytest.raises(RuntimeError, match="structured mode"):
        await ws.wait_disconnected()
    with pytest.raises(RuntimeError, match="structured mode"):
        ws.cancel_on_disconnect()
    with pytest.raises(RuntimeError, match="structured mode"):
        ws.nursery
    with pytest.raises(RuntimeError, match="structured mode"):
        ws.statistics()


# 4 and 5. --------------------------------------------------------------------------------


async def test_leaving_the_block_normally_closes_with_1000() -> None:
    """Point 5: returning from the block closes with 1000, closed_by APP."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async with WebSocket(scope, receive, send) as ws:
            await ws.accept()
            await ws.send_text("bye")
        seen.append((ws.close_code, ws.closed_by, ws.application_state))

    with trio.fail_after(5):
        async with connect(app) as client:
            assert await client.receive_text() == "bye"
            await client.wait_app_finished()
            assert client.close_code == 1000
    assert seen == [(1000, ClosedBy.APP, WebSocketState.DISCONNECTED)]


async def test_returning_before_accept_denies_with_403() -> None:
    """A handler that never accepts is denied: the server answers 403."""

    async def handler(ws: WebSocket) -> None:
        return None

    with trio.fail_after(5), pytest.raises(ConnectionRejected) as info:
        async with connect(websocket_app(handler)):
            pass  # pragma: no cover
    assert info.value.status_code == 403


async def test_an_exception_closes_with_1011_and_propagates_unwrapped() -> None:
    """Point 5: an error closes with 1011 (no text leaked) and the same exception object
    comes out of the block: not an ExceptionGroup."""
    boom = ValueError("secret detail")
    caught: list[BaseException] = []
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        try:
            async with ws:
                await ws.accept()
                raise boom
        except BaseException as exc:
            caught.append(exc)
        seen.append((ws.close_code, ws.closed_by))

    with trio.fail_after(5):
        async with connect(app) as client:
            with pytest.raises(ConnectionClosed) as info:
                await client.receive_text()
            await client.wait_app_finished()
    assert info.value.code == 1011
    assert "secret" not in info.value.reason
    assert caught == [boom]
    assert seen == [(1011, ClosedBy.ERROR)]


async def test_a_failing_child_task_closes_with_1011_and_its_error_comes_out() -> None:
    """Point 5: an exception in a task of ws.nursery cancels the block, closes with 1011,
    and is raised unwrapped."""
    boom = KeyError("child")
    caught: list[BaseException] = []

    async def failing() -> None:
        await trio.sleep(0.01)
        raise boom

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            async with WebSocket(scope, receive, send) as ws:
                await ws.accept()
                ws.start_soon(failing)
                await trio.sleep(3600)
        except BaseException as exc:
            caught.append(exc)

    with trio.fail_after(5):
        async with connect(app) as client:
            with pytest.raises(ConnectionClosed) as info:
                await client.receive_text()
            await client.wait_app_finished()
    assert info.value.code == 1011
    assert caught == [boom]


async def test_websocket_disconnect_escaping_the_block_is_a_normal_end() -> None:
    """Point 5: WebSocketDisconnect raised by a receive is absorbed by the block."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async with WebSocket(scope, receive, send) as ws:
            await ws.accept()
            await ws.receive_text()  # raises WebSocketDisconnect
        seen.append((ws.close_code, ws.closed_by))

    with trio.fail_after(5):
        async with connect(app) as client:
            await client.close(4010)
            await client.wait_app_finished()
            assert client.app_exception is None
    assert seen == [(4010, ClosedBy.CLIENT)]


async def test_websocket_exception_closes_with_its_code() -> None:
    """Raising WebSocketException(code, reason) closes with that code and is absorbed."""

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        raise WebSocketException(4403, "forbidden")

    with trio.fail_after(5):
        async with connect(websocket_app(handler)) as client:
            with pytest.raises(ConnectionClosed) as info:
                await client.receive_text()
    assert (info.value.code, info.value.reason) == (4403, "forbidden")


# 6. --------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [1012, 1001])
async def test_outside_cancellation_closes_with_the_shutdown_code(code: int) -> None:
    """Point 6: cancelled from outside, the block sends a close (1012 by default, or 1001)
    and re-raises the Cancelled."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        with trio.CancelScope() as outer:
            cancel_outer.append(outer)
            ws = WebSocket(scope, receive, send, options=ConnectionOptions(shutdown_code=code))
            try:
                async with ws:
                    await ws.accept()
                    await trio.sleep(3600)
            except trio.Cancelled:
                seen.append("cancelled")
                raise
        seen.append((ws.close_code, ws.closed_by, outer.cancelled_caught))

    cancel_outer: list[trio.CancelScope] = []
    with trio.fail_after(5):
        async with connect(app) as client:
            await trio.testing.wait_all_tasks_blocked()
            cancel_outer[0].cancel()
            with pytest.raises(ConnectionClosed) as info:
                await client.receive_text()
            await client.wait_app_finished()
    assert info.value.code == code
    assert seen == ["cancelled", (code, ClosedBy.SERVER_SHUTDOWN, True)]


# 7. --------------------------------------------------------------------------------------


async def test_close_inside_the_block_is_idempotent_and_ends_the_connection() -> None:
    """Point 7: close() twice sends one close; the block's exit sends nothing more;
    wait_disconnected returns after the app's own close."""

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(4020, "first")
        await ws.close(4021, "second")
        with trio.fail_after(1):
            await ws.wait_disconnected()

    with trio.fail_after(5):
        async with connect(websocket_app(handler)) as client:
            await client.wait_app_finished()
            closes = [m for m in client.app_messages if m["type"] == "websocket.close"]
    assert [(m["code"], m["reason"]) for m in closes] == [(4020, "first")]


# 8 and 9. --------------------------------------------------------------------------------


@pytest.mark.parametrize("use_iterator", [False, True], ids=["receive_text", "iter_text"])
async def test_receives_under_random_cancellation_lose_nothing(use_iterator: bool) -> None:
    """Point 8: 5,000 sequenced messages, at least 20 % of receives cancelled:
    0 lost, 0 duplicated, 0 reordered."""
    count = 5000
    rng = random.Random(99)
    received: list[int] = []
    attempts = cancelled = 0

    async def handler(ws: WebSocket) -> None:
        nonlocal attempts, cancelled
        await ws.accept()
        iterator = ws.iter_text()
        while len(received) < count:
            attempts += 1
            with trio.move_on_after(rng.choice([0, 0, 1e-6, 1e-5, 1e-4, 1e-3])) as scope:
                text = await (anext(iterator) if use_iterator else ws.receive_text())
                received.append(int(text))
            cancelled += scope.cancelled_caught

    with trio.fail_after(120):
        async with connect(structured_app(handler)) as client:
            for i in range(count):
                await client.send_text(str(i))
                if i % 5 == 0:
                    await trio.lowlevel.checkpoint()
            await client.wait_app_finished()
    assert received == list(range(count))
    assert cancelled >= 0.2 * attempts, (cancelled, attempts)


async def test_concurrent_receivers_are_busy_and_senders_are_whole() -> None:
    """Point 9: a second receiver gets BusyResourceError; three senders never interleave."""
    outcome: list[Any] = []

    async def handler(ws: WebSocket) -> None:
        await ws.accept()

        async def receiver() -> None:
            outcome.append(await ws.receive_text())

        async def sender(name: str) -> None:
            for i in range(50):
                await ws.send_text(f"{name}{i}")

        ws.start_soon(receiver)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await ws.receive_text()
        for name in "xyz":
            ws.start_soon(sender, name)
        await ws.wait_disconnected()

    got: dict[str, list[int]] = {"x": [], "y": [], "z": []}
    with trio.fail_after(10):
        async with connect(structured_app(handler)) as client:
            for _ in range(150):
                text = await client.receive_text()
                got[text[0]].append(int(text[1:]))
            await client.send_text("hello")
            await client.close()
            await client.wait_app_finished()
    assert outcome == ["hello"]
    assert all(v == list(range(50)) for v in got.values())


# 10. -------------------------------------------------------------------------------------


async def test_buffers_stay_within_their_capacity() -> None:
    """Point 10: however much a client sends, the pump holds at most inbound_buffer."""
    peaks: list[int] = []

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        for _ in range(100):
            peaks.append(ws.statistics().inbound_buffered)
            await trio.sleep(0.001)
        stats = ws.statistics()
        peaks.append(stats.inbound_buffered)
        assert stats.inbound_capacity == 8
        assert stats.pump_running

    app = structured_app(handler, inbound_buffer=8, overflow="drop_oldest")
    with trio.fail_after(10):
        async with connect(app) as client:
            for _ in range(500):
                await client.send_bytes(b"x" * 1000)
            await client.wait_app_finished()
    assert max(peaks) == 8


async def test_outbound_buffer_returns_early_keeps_order_and_flushes_on_exit() -> None:
    """With outbound_buffer, send_* return once queued; everything arrives in order before
    the close made on leaving the block."""
    queued_peak: list[int] = []

    async def slow_send_app(scope: Any, receive: Any, send: Any) -> None:
        async def slow(message: Any) -> None:
            if message["type"] == "websocket.send":
                await trio.sleep(0.002)
            await send(message)

        options = ConnectionOptions(outbound_buffer=50)
        async with WebSocket(scope, receive, slow, options=options) as ws:
            await ws.accept()
            for i in range(40):
                await ws.send_text(str(i))
            queued_peak.append(ws.statistics().outbound_queued)

    with trio.fail_after(10):
        async with connect(slow_send_app) as client:
            got = [int(await client.receive_text()) for _ in range(40)]
            with pytest.raises(ConnectionClosed) as info:
                await client.receive_text()
    assert got == list(range(40))
    assert info.value.code == 1000
    assert queued_peak[0] > 10  # the sends did not wait for the slow server


def test_options_are_validated() -> None:
    """Bad settings fail when the options are made, with the field named."""
    with pytest.raises(ValueError, match="inbound_buffer"):
        ConnectionOptions(inbound_buffer=0)
    with pytest.raises(ValueError, match="overflow"):
        ConnectionOptions(overflow="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shutdown_code"):
        ConnectionOptions(shutdown_code=1000)
    with pytest.raises(ValueError, match="1006"):
        ConnectionOptions(overflow_close_code=1006)
    with pytest.raises(ValueError, match="close_timeout"):
        ConnectionOptions(close_timeout=0)

    async def handler(ws: WebSocket) -> None:
        await ws.accept()

    with pytest.raises(TypeError, match="not both"):
        websocket_app(handler, options=ConnectionOptions(), inbound_buffer=2)


async def test_websocket_app_answers_lifespan_and_plain_http() -> None:
    """websocket_app acknowledges lifespan startup/shutdown and answers HTTP with 426."""

    async def handler(ws: WebSocket) -> None:
        await ws.accept()

    app = websocket_app(handler)
    to_app, from_server = trio.open_memory_channel[dict[str, Any]](4)
    sent: list[dict[str, Any]] = []

    async def record(message: dict[str, Any]) -> None:
        sent.append(message)

    await to_app.send({"type": "lifespan.startup"})
    await to_app.send({"type": "lifespan.shutdown"})
    with trio.fail_after(5):
        await app({"type": "lifespan"}, from_server.receive, record)
        await app({"type": "http", "method": "GET", "path": "/"}, from_server.receive, record)
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
        "http.response.start",
        "http.response.body",
    ]
    assert sent[2]["status"] == 426


async def test_cancelling_the_connection_nursery_ends_the_block_normally() -> None:
    """Cancelling ws.nursery's own scope ends the block with 1000; nothing escapes."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async with WebSocket(scope, receive, send) as ws:
            await ws.accept()
            ws.nursery.cancel_scope.cancel()
            await trio.sleep(3600)
        seen.append((ws.close_code, ws.closed_by))

    with trio.fail_after(5):
        async with connect(app) as client:
            with pytest.raises(ConnectionClosed) as info:
                await client.receive_text()
            await client.wait_app_finished()
            assert client.app_exception is None
    assert info.value.code == 1000
    assert seen == [(1000, ClosedBy.APP)]


async def test_a_handler_that_stops_reading_still_notices_the_disconnect() -> None:
    """While the handler receives it reads from the server itself; once it stops, the pump
    takes over again, so a later send-only phase still sees the client leave."""
    outcome: list[Any] = []

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        outcome.extend([await ws.receive_text() for _ in range(3)])
        try:
            with ws.cancel_on_disconnect():
                while True:
                    await ws.send_text("tick")
                    await trio.sleep(0.005)
        except WebSocketDisconnect:
            pass  # the send noticed first; otherwise the scope was cancelled
        outcome.append((ws.closed_by, ws.close_code))

    with trio.fail_after(5):
        async with connect(structured_app(handler)) as client:
            for word in ("a", "b", "c"):
                await client.send_text(word)
            assert await client.receive_text() == "tick"
            await client.close(4007)
            await client.wait_app_finished()
    # 4007 when the pump read the disconnect first; 1006 when a send met the server's OSError
    # (ASGI 2.4+) before that, which is how a lost connection is recorded.
    assert outcome[:3] == ["a", "b", "c"]
    assert outcome[3] in [(ClosedBy.CLIENT, 4007), (ClosedBy.CLIENT, 1006)]


async def test_reading_and_pumping_interleave_without_loss(autojump_clock: trio.abc.Clock) -> None:
    """Bursts with pauses longer and shorter than the pump's takeover delay: every message
    arrives once, in order, whoever read it from the server."""
    count = 600
    received: list[int] = []

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        while len(received) < count:
            received.append(int(await ws.receive_text()))
            if len(received) % 50 == 0:
                await trio.sleep(0.05)  # away from receiving: the pump takes over
        await ws.send_text("done")

    with trio.fail_after(60):
        async with connect(structured_app(handler)) as client:
            for i in range(count):
                await client.send_text(str(i))
                if i % 37 == 0:
                    await trio.sleep(0.003)
            assert await client.receive_text() == "done"
    assert received == list(range(count))


async def test_a_quick_request_response_loop_wakes_the_pump_rarely_and_a_later_silence_is_seen(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Round trips a little shorter than the takeover delay for 8 s: the pump is not woken
    for each (the delay adapts); when the handler then only sends, the pump still takes over
    and sees the client leave within MAX_TAKEOVER_DELAY."""
    outcome: list[Any] = []
    rounds = 200
    pump_steps = PumpSteps()

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        for _ in range(rounds):
            await ws.send_text(await ws.receive_text())
        outcome.append(pump_steps.steps)
        try:
            with ws.cancel_on_disconnect():
                while True:
                    await ws.send_text("tick")
                    await trio.sleep(0.01)
        except WebSocketDisconnect:
            pass
        outcome.append(trio.current_time())

    with trio.fail_after(60):
        # Spec 2.3 (hypercorn): sends to a departed client vanish, so only a pump notices.
        async with connect(structured_app(handler), spec_version="2.3") as client:
            trio.lowlevel.add_instrument(pump_steps)
            try:
                for i in range(rounds):
                    await trio.sleep(0.8 * TAKEOVER_DELAY)
                    await client.send_text(str(i))
                    assert await client.receive_text() == str(i)
            finally:
                trio.lowlevel.remove_instrument(pump_steps)
            assert await client.receive_text() == "tick"
            closed_at = trio.current_time()
            await client.close(4009)
            await client.wait_app_finished()
    # A fixed 50 ms delay wakes the pump once per round trip here (200 steps; now 9).
    assert outcome[0] <= 2 * rounds * 0.8 * TAKEOVER_DELAY / MAX_TAKEOVER_DELAY + 12, outcome
    assert outcome[1] - closed_at <= MAX_TAKEOVER_DELAY + 0.02, outcome


async def test_receiving_after_the_block_never_asks_the_server_again() -> None:
    """After the block has ended, a receive raises instead of calling the server's receive
    (which hangs forever under hypercorn once the disconnect was delivered)."""
    outcome: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async with WebSocket(scope, receive, send) as ws:
            await ws.accept()
        try:
            await ws.receive()
        except WebSocketDisconnect as exc:
            outcome.append(exc.code)

    with trio.fail_after(5):
        async with connect(app, spec_version="2.3") as client:
            await client.wait_app_finished()
    assert outcome == [1000]


async def test_an_idle_reader_lets_the_pump_go_and_it_comes_back(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A connection idle in receive holds no pump task; when the handler then stops reading
    and only sends, the pump is back and the disconnect is still noticed."""
    outcome: list[Any] = []

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        outcome.append(await ws.receive_text())  # idle here for a long time first
        outcome.append(ws.statistics().pump_running)
        try:
            with ws.cancel_on_disconnect():
                while True:
                    await ws.send_text("tick")
                    await trio.sleep(0.2)
        except WebSocketDisconnect:
            pass
        outcome.append(ws.closed_by)

    with trio.fail_after(120):
        # Spec 2.3 (hypercorn): sends to a departed client vanish, so only a pump notices.
        async with connect(structured_app(handler), spec_version="2.3") as client:
            await trio.sleep(30)  # far longer than the pump's takeover delay
            await client.send_text("wake up")
            assert await client.receive_text() == "tick"
            await trio.sleep(1)
            await client.close(4009)
            await client.wait_app_finished()
    assert outcome == ["wake up", True, ClosedBy.CLIENT]

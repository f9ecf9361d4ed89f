"""Closing from either side, dropping, and what the app sees afterwards, per spec version."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from trio_ws import testing
from trio_ws._server_exchange import ClientGone

if TYPE_CHECKING:
    from conftest import HeldReader

    from trio_ws._types import ASGIApp, Message, Receive, Scope, Send


def recorder(seen: list[Message]) -> ASGIApp:
    """Accept, then record every message received until the disconnect."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            seen.append(await receive())
            if seen[-1]["type"] == "websocket.disconnect":
                return

    return app


async def test_app_close_delivers_earlier_messages_first_then_raises() -> None:
    """Messages sent before the close are received, then ConnectionClosed(code, reason)."""
    after_close: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "one"})
        await send({"type": "websocket.send", "bytes": b"two"})
        await send({"type": "websocket.close", "code": 4001, "reason": "done"})
        after_close.append(await receive())

    with trio.fail_after(5):
        async with testing.connect(app, spec_version="2.3") as ws:
            await ws.wait_app_finished()
            assert (ws.close_code, ws.close_reason) == (4001, "done")
            assert await ws.receive() == "one"
            assert await ws.receive() == b"two"
            for _ in range(2):
                with pytest.raises(testing.ConnectionClosed) as info:
                    await ws.receive()
                assert (info.value.code, info.value.reason) == (4001, "done")
            with pytest.raises(testing.ConnectionClosed):
                await ws.send_text("too late")
    # hypercorn: the app that closed first gets code 1000, and never a reason (spec 2.3)
    assert after_close == [{"type": "websocket.disconnect", "code": 1000}]


async def test_app_close_disconnect_has_an_empty_reason_in_spec_2_5() -> None:
    """Spec 2.5 adds ``reason`` to every websocket.disconnect."""
    seen: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1001})
        seen.append(await receive())

    with trio.fail_after(5):
        async with testing.connect(app, spec_version="2.5") as ws:
            with pytest.raises(testing.ConnectionClosed):
                await ws.receive()
    assert seen == [{"type": "websocket.disconnect", "code": 1000, "reason": ""}]
    assert (ws.close_code, ws.close_reason) == (1001, "")


async def test_app_returning_without_closing_closes_with_1011() -> None:
    """Like hypercorn, an app that returns (or raises) after accept closes with 1011."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "bye"})

    with trio.fail_after(5):
        async with testing.connect(app) as ws:
            assert await ws.receive() == "bye"
            with pytest.raises(testing.ConnectionClosed) as info:
                await ws.receive()
            assert info.value.code == 1011
            assert ws.close_code == 1011


@pytest.mark.parametrize(
    ("spec_version", "expected"),
    [
        ("2.3", {"type": "websocket.disconnect", "code": 4100}),
        ("2.4", {"type": "websocket.disconnect", "code": 4100}),
        ("2.5", {"type": "websocket.disconnect", "code": 4100, "reason": "bye"}),
    ],
)
async def test_client_close_delivers_its_code_and_reason_only_from_2_5(
    spec_version: testing.SpecVersion, expected: Message
) -> None:
    """close(code, reason) reaches the app; the reason key exists only in spec 2.5."""
    seen: list[Message] = []
    with trio.fail_after(5):
        async with testing.connect(recorder(seen), spec_version=spec_version) as ws:
            await ws.send_text("before")
            await ws.close(4100, "bye")
            assert (ws.close_code, ws.close_reason) == (4100, "bye")
            await ws.wait_app_finished()
            await ws.close()  # idempotent
            with pytest.raises(testing.ConnectionClosed) as info:
                await ws.send_text("after")
            assert info.value.code == 4100
            with pytest.raises(testing.ConnectionClosed):
                await ws.receive()
    assert seen[-1] == expected
    assert seen[0]["type"] == "websocket.receive"
    assert (ws.close_code, ws.close_reason) == (4100, "bye")


@pytest.mark.parametrize(("code", "reason"), [(1006, None), (999, None), (1000, "x" * 124)])
async def test_client_close_refuses_codes_and_reasons_it_may_not_send(
    code: int, reason: str | None
) -> None:
    """1004-1006, 1015, out-of-range codes and reasons over 123 bytes are a ValueError."""
    seen: list[Message] = []
    with trio.fail_after(5):
        async with testing.connect(recorder(seen)) as ws:
            with pytest.raises(ValueError, match="close"):
                await ws.close(code, reason)
            assert ws.close_code is None
    assert seen == [{"type": "websocket.disconnect", "code": 1000, "reason": ""}]


async def test_leaving_the_block_closes_with_1000() -> None:
    """Exiting while open delivers a 1000 close and waits for the app to finish."""
    seen: list[Message] = []
    with trio.fail_after(5):
        async with testing.connect(recorder(seen), spec_version="2.4") as ws:
            assert ws.close_code is None
        assert ws.app_finished
    assert seen == [{"type": "websocket.disconnect", "code": 1000}]
    assert ws.close_code == 1000


async def test_drop_delivers_1006_after_the_queued_messages() -> None:
    """drop() is an abrupt loss: the app gets 1006 (no reason), the client records 1006."""
    seen: list[Message] = []
    with trio.fail_after(5):
        async with testing.connect(recorder(seen), spec_version="2.3") as ws:
            await ws.send_text("queued")
            ws.drop()
            assert ws.close_code == 1006
            ws.drop()  # a no-op once closed
            with pytest.raises(testing.ConnectionClosed) as info:
                await ws.send_text("after")
            assert info.value.code == 1006
            await ws.wait_app_finished()
    assert seen == [
        {"type": "websocket.receive", "bytes": None, "text": "queued"},
        {"type": "websocket.disconnect", "code": 1006},
    ]


def sender_after_disconnect(outcome: list[object]) -> ASGIApp:
    """An app that waits for the disconnect, then tries to send and close."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        assert (await receive())["type"] == "websocket.disconnect"
        for message in ({"type": "websocket.send", "text": "x"}, {"type": "websocket.close"}):
            try:
                await send(message)
            except OSError as exc:
                outcome.append(exc)
            else:
                outcome.append("dropped")

    return app


@pytest.mark.parametrize("how", ["close", "drop"])
async def test_spec_2_3_drops_app_sends_after_the_client_left(how: str) -> None:
    """Like hypercorn, sends after the client is gone are silently dropped."""
    outcome: list[object] = []
    with trio.fail_after(5):
        async with testing.connect(sender_after_disconnect(outcome), spec_version="2.3") as ws:
            await ws.close() if how == "close" else ws.drop()
            await ws.wait_app_finished()
    assert outcome == ["dropped", "dropped"]
    assert [m["type"] for m in ws.app_messages][-2:] == ["websocket.send", "websocket.close"]
    assert ws.app_exception is None


@pytest.mark.parametrize("spec_version", ["2.4", "2.5"])
async def test_newer_specs_raise_oserror_on_sends_after_the_client_left(
    spec_version: testing.SpecVersion,
) -> None:
    """Spec 2.4: send on a closed connection raises OSError (ClientGone, the subclass
    trio_ws.serve's engine raises too)."""
    outcome: list[object] = []
    with trio.fail_after(5):
        async with testing.connect(
            sender_after_disconnect(outcome), spec_version=spec_version
        ) as ws:
            await ws.close()
            await ws.wait_app_finished()
    assert [type(item) for item in outcome] == [ClientGone, ClientGone]
    assert all(isinstance(item, OSError) for item in outcome)


def receiver_after_disconnect(outcome: list[object]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        outcome.append(await receive())
        with trio.move_on_after(10) as scope_:
            try:
                outcome.append(await receive())
            except testing.AppProtocolError as exc:
                outcome.append(exc)
        outcome.append("hung" if scope_.cancelled_caught else "returned")

    return app


async def test_spec_2_3_receive_after_the_disconnect_hangs(autojump_clock: object) -> None:
    """Like hypercorn, a second receive() after websocket.disconnect never returns."""
    outcome: list[object] = []
    with trio.fail_after(60):
        async with testing.connect(
            receiver_after_disconnect(outcome), spec_version="2.3", close_timeout=30
        ) as ws:
            await ws.close()
            await ws.wait_app_finished()
    assert outcome == [{"type": "websocket.disconnect", "code": 1000}, "hung"]


async def test_newer_specs_receive_after_the_disconnect_raises() -> None:
    """From spec 2.4 the emulator raises AppProtocolError instead of hanging."""
    outcome: list[object] = []
    with trio.fail_after(5):
        async with testing.connect(receiver_after_disconnect(outcome), spec_version="2.4") as ws:
            await ws.close()
            await ws.wait_app_finished()
    assert isinstance(outcome[1], testing.AppProtocolError)
    assert outcome[2] == "returned"


async def test_send_after_the_apps_own_close_raises_and_a_second_close_is_ignored() -> None:
    """websocket.send after websocket.close is illegal; a repeated close is accepted."""
    outcome: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})
        await send({"type": "websocket.close", "code": 4000})
        try:
            await send({"type": "websocket.send", "text": "late"})
        except testing.AppProtocolError as exc:
            outcome.append(exc)

    with trio.fail_after(5):
        async with testing.connect(app) as ws:
            with pytest.raises(testing.ConnectionClosed) as info:
                await ws.receive()
            assert info.value.code == 1000
    assert len(outcome) == 1
    assert "after websocket.close" in str(outcome[0])


@pytest.mark.parametrize(
    "close",
    [
        {"type": "websocket.close", "code": 1006},
        {"type": "websocket.close", "code": "1000"},
        {"type": "websocket.close", "reason": "\u00e9" * 62},
    ],
    ids=["reserved-code", "str-code", "reason-too-long"],
)
async def test_invalid_app_close_raises_into_the_app(close: Message) -> None:
    """Close codes a server may not send and over-long reasons are refused."""
    outcome: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await send(close)
        except testing.AppProtocolError as exc:
            outcome.append(exc)
        await send({"type": "websocket.close", "code": 4999})

    with trio.fail_after(5):
        async with testing.connect(app) as ws:
            with pytest.raises(testing.ConnectionClosed):
                await ws.receive()
    assert len(outcome) == 1
    assert ws.close_code == 4999


async def test_client_close_waits_for_queue_space_and_is_atomic_when_cancelled(
    held_reader: HeldReader,
) -> None:
    """close() queues behind unread messages; cancelled there, nothing was delivered."""
    app, release, seen = held_reader.app, held_reader.release, held_reader.seen

    with trio.fail_after(5):
        async with testing.connect(app, queue_size=1) as ws:
            await ws.send_text("fills the queue")
            with trio.move_on_after(0.01) as scope:
                await ws.close(4001)
            assert scope.cancelled_caught
            assert ws.close_code is None
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ws.close, 4002)
                await trio.testing.wait_all_tasks_blocked()
                with pytest.raises(testing.ConnectionClosed) as info:
                    await ws.send_text("after the close frame")
                assert info.value.code == 4002
                release.set()
    assert [m["type"] for m in seen] == ["websocket.receive", "websocket.disconnect"]
    assert seen[-1]["code"] == 4002
    assert ws.close_code == 4002


async def test_crossing_closes_deliver_a_single_disconnect() -> None:
    """If the app closes while the client's close waits for queue space, the app still gets
    exactly one websocket.disconnect, and the first close (the app's) is recorded."""
    seen: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await trio.testing.wait_all_tasks_blocked()  # the client's close is waiting
        await send({"type": "websocket.close", "code": 4000})
        seen.append(await receive())
        seen.append(await receive())
        try:
            await receive()
        except testing.AppProtocolError as exc:
            seen.append(exc)

    with trio.fail_after(5):
        async with testing.connect(app, queue_size=1, spec_version="2.5") as ws:
            await ws.send_text("fills the queue")
            await ws.close(4002)
            await ws.wait_app_finished()
    assert seen[:2] == [
        {"type": "websocket.receive", "text": "fills the queue"},
        {"type": "websocket.disconnect", "code": 4002, "reason": ""},
    ]
    assert isinstance(seen[2], testing.AppProtocolError)
    assert ws.close_code == 4000

"""trio_ws.connect against trio_ws.serve and against websockets' asyncio server: the message
API (requirement 1) and structured mode's close rules (requirement 2), compression on and off."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio

import trio_ws

from ._servers import SERVER_KINDS, closed, echo_server, websockets_server

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

pytestmark = pytest.mark.parametrize("kind", SERVER_KINDS)

COMPRESSION = pytest.mark.parametrize("compression", ["deflate", None])


@COMPRESSION
async def test_every_message_method_round_trips(kind: str, compression: str | None) -> None:
    with trio.fail_after(10):
        async with echo_server(kind) as (url, seen):
            async with trio_ws.connect(
                url + "/echo?x=1",
                subprotocols=["v2", "v1"],
                headers={"X-Token": "secret"},
                compression=compression,  # type: ignore[arg-type]
            ) as ws:
                assert ws.subprotocol == "v2"
                names = {name for name, _ in ws.response_headers}
                assert b"sec-websocket-accept" in names
                assert (b"sec-websocket-extensions" in names) == (compression == "deflate")
                await ws.send_text("héllo")
                assert await ws.receive_text() == "héllo"
                await ws.send_bytes(b"\x00\xff")
                assert await ws.receive_bytes() == b"\x00\xff"
                await ws.send_json({"a": [1, 2]})
                assert await ws.receive_json() == {"a": [1, 2]}
                await ws.send_json({"b": None}, mode="binary")
                assert await ws.receive_json(mode="binary") == {"b": None}
                await ws.send_text("as it came")
                await ws.send_bytes(b"as it came")
                assert await ws.receive_message() == "as it came"
                assert await ws.receive_message() == b"as it came"
                big = "x" * 300_000
                await ws.send_text(big)
                assert await ws.receive_text() == big
                await ws.send_bytes(b"b")
                with pytest.raises(trio_ws.UnexpectedMessageType) as wrong:
                    await ws.receive_text()
                assert wrong.value.data == b"b"
                assert ws.close_code is None
            headers = (await seen.get())[1]
            assert {k.lower(): v for k, v in headers.items()}["x-token"] == "secret"
            assert await closed(seen) == (1000, "")
        assert (ws.close_code, ws.closed_by) == (1000, trio_ws.ClientClosedBy.CLIENT)


async def test_server_close_ends_iteration_and_the_block(kind: str) -> None:
    with trio.fail_after(10):
        async with echo_server(kind) as (url, seen):
            async with trio_ws.connect(url) as ws:
                await ws.send_text("one")
                await ws.send_text("close 4001 go away")
                received = [message async for message in ws.iter_text()]
                assert received == ["one"]
                with pytest.raises(trio_ws.WebSocketDisconnected):
                    await ws.receive_text()  # the end was already reported
            assert await closed(seen) == (4001, "go away")
        assert (ws.close_code, ws.close_reason) == (4001, "go away")
        assert ws.closed_by is trio_ws.ClientClosedBy.SERVER


async def test_receive_raises_disconnect_with_the_servers_code(kind: str) -> None:
    with trio.fail_after(10):
        async with echo_server(kind) as (url, _), trio_ws.connect(url) as ws:
            await ws.send_text("close 4002 bye")
            with pytest.raises(trio_ws.WebSocketDisconnect) as disconnect:
                await ws.receive_message()
            assert (disconnect.value.code, disconnect.value.reason) == (4002, "bye")
            with pytest.raises(trio_ws.WebSocketDisconnect):
                await ws.send_text("too late")


async def test_websocket_exception_closes_with_its_code_and_is_absorbed(kind: str) -> None:
    with trio.fail_after(10):
        async with echo_server(kind) as (url, seen):
            async with trio_ws.connect(url) as ws:
                raise trio_ws.WebSocketException(4003, "client says no")
            assert await closed(seen) == (4003, "client says no")
        assert ws.closed_by is trio_ws.ClientClosedBy.CLIENT


async def test_any_other_exception_closes_1011_and_comes_out_unwrapped(kind: str) -> None:
    with trio.fail_after(10):
        async with echo_server(kind) as (url, seen):
            with pytest.raises(KeyError, match="boom"):
                async with trio_ws.connect(url) as ws:
                    raise KeyError("boom")
            assert (await closed(seen))[0] == 1011
        assert ws.closed_by is trio_ws.ClientClosedBy.ERROR


async def test_tasks_of_start_soon_follow_the_same_rules(kind: str) -> None:
    with trio.fail_after(10):
        async with echo_server(kind) as (url, seen):

            async def fails() -> None:
                raise ValueError("in a task")

            with pytest.raises(ValueError, match="in a task"):  # noqa: PT012
                async with trio_ws.connect(url) as ws:
                    ws.start_soon(fails)
                    await trio.sleep_forever()
            assert (await closed(seen))[0] == 1011

            async def refuses() -> None:
                raise trio_ws.WebSocketException(4004, "from a task")

            async with trio_ws.connect(url) as ws:
                ws.start_soon(refuses)
                await trio.sleep_forever()
            assert await closed(seen) == (4004, "from a task")

            async def reads(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
                async for _ in ws.iter_text():
                    pass

            async with trio_ws.connect(url) as ws:
                ws.start_soon(reads)
                await ws.send_text("close 4005 done")
                await ws.wait_disconnected()
            assert await closed(seen) == (4005, "done")
            assert ws.closed_by is trio_ws.ClientClosedBy.SERVER


async def test_cancelled_from_outside_closes_going_away(kind: str) -> None:
    with trio.fail_after(10):
        async with echo_server(kind) as (url, seen):
            with trio.CancelScope() as scope:
                async with trio_ws.connect(url):
                    scope.cancel()
                    await trio.sleep_forever()
            assert await closed(seen) == (1001, "")


async def test_close_validates_and_is_idempotent(kind: str) -> None:
    with trio.fail_after(10):
        async with echo_server(kind) as (url, seen):
            async with trio_ws.connect(url) as ws:
                with pytest.raises(ValueError, match="1005"):
                    await ws.close(1005)
                await ws.close(4010, "first")
                await ws.close(4011, "second")
                with pytest.raises(trio_ws.WebSocketDisconnected):
                    await ws.send_text("after close")
            assert await closed(seen) == (4010, "first")
        assert (ws.close_code, ws.close_reason) == (4010, "first")


async def test_messages_sent_with_the_101_come_after_the_handshake(kind: str) -> None:
    """Frames that arrive in the same read as the upgrade response are not lost or reordered."""
    del kind  # websockets' server writes its first frames right behind the 101

    async def greet(ws: ServerConnection) -> None:
        await ws.ping(b"early")
        await ws.send("welcome")
        await ws.send(b"second")
        async for _ in ws:
            pass

    with trio.fail_after(10), websockets_server(greet) as url:
        for _ in range(5):
            async with trio_ws.connect(url) as ws:
                assert await ws.receive_message() == "welcome"
                assert await ws.receive_message() == b"second"

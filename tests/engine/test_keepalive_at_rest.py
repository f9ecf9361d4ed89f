"""What an idle connection holds: no second copy of its request head, no exception from its
last read, and (once the keepalive timer looked at it) no empty message or output queues."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

import pytest
import trio
from trio.testing import wait_all_tasks_blocked
from websockets.frames import Opcode
from websockets.http11 import Request

from trio_ws._engine._connection import _NO_MESSAGES, _NO_OUTPUT, EngineConnection
from trio_ws._engine._upgrade import Upgrade
from trio_ws.testing import serve_app

from ._raw import connect, frame, port_of, upgrade_request

if TYPE_CHECKING:
    from trio_ws._types import Receive, Scope, Send


def _echo_app(headers_seen: list[Any]) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            headers_seen.append(dict(scope["headers"]))
            await send({"type": "websocket.send", "text": message["text"]})

    return app


def _alive(kind: type) -> list[Any]:
    gc.collect()
    return [thing for thing in gc.get_objects() if type(thing) is kind]


async def test_an_idle_connection_holds_only_what_it_needs() -> None:
    headers_seen: list[Any] = []
    with trio.fail_after(10):
        # pings every 0.2 s: the timer looks at the connection several times a second
        async with (
            serve_app(_echo_app(headers_seen), ping_interval=0.2, ping_timeout=5.0) as url,
            await connect(port_of(url), upgrade_request()) as client,
        ):
            await client.stream.send_all(frame(0x1, b"hello"))
            echoed = await client.next_frame()
            [connection] = _alive(EngineConnection)
            pongs = 0
            while pongs < 2:  # two pings answered: the timer looked at the connection since
                ping = await client.next_frame()
                assert ping.opcode is Opcode.PING
                await client.stream.send_all(frame(0xA, bytes(ping.data)))
                pongs += 1
            await wait_all_tasks_blocked()  # the pong is read
            assert not _alive(Upgrade)  # the request head was dropped after the handshake
            assert all(not request.headers for request in _alive(Request))
            assert not _alive(BlockingIOError)  # the waiting read holds no exception
            assert connection._pending is _NO_MESSAGES  # the shared empty queue, not its own
            assert connection._out is _NO_OUTPUT
            # and it still works: the scope kept the headers, messages still queue
            await client.stream.send_all(frame(0x1, b"again"))
            again = await client.next_frame()
            while again.opcode is Opcode.PING:
                again = await client.next_frame()
    assert echoed.data == b"hello"
    assert again.data == b"again"
    assert headers_seen[-1][b"upgrade"] == b"websocket"
    assert b"sec-websocket-key" in headers_seen[-1]


def test_adding_to_the_shared_empty_queue_is_an_error_not_a_lost_item() -> None:
    with pytest.raises(RuntimeError, match="shared empty queue"):
        _NO_OUTPUT.append(b"frame")
    with pytest.raises(RuntimeError, match="shared empty queue"):
        _NO_MESSAGES.extend([{"type": "websocket.receive", "text": "lost?"}])
    assert not _NO_OUTPUT
    assert not _NO_MESSAGES

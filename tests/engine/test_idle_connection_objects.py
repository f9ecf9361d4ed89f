"""What an idle websocket on ``trio_ws.serve`` keeps alive, and that what it no longer keeps
still behaves: no parsed request once the handshake is answered (the frames that follow are
parsed all the same, also when part of one came with the head), one coroutine of the server's
between the connection's task and the application, no message queue once the application
took every message, and scope values shared between connections that still read as sent.

The memory figure itself is a benchmark (``python -m bench.idle_memory``), never a test."""

from __future__ import annotations

import gc
import os
import sys
import weakref
from functools import partial
from typing import TYPE_CHECKING, Any

import trio
from websockets.frames import Frame, Opcode
from websockets.http11 import Request

from trio_ws import serve
from trio_ws._engine._connection import _NO_MESSAGES, EngineConnection
from trio_ws._engine._upgrade import parse_upgrade
from trio_ws._ws_protocols import EngineProtocol
from trio_ws.testing import serve_app

from ._raw import connect, frame, port_of, upgrade_request

if TYPE_CHECKING:
    from types import FrameType

    from trio_ws._types import Receive, Scope, Send


def _echo_app(stacks: list[list[str]]) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        stacks.append(_coroutines_above_me())
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"]})

    return app


def _coroutines_above_me() -> list[str]:
    """The caller (``app``) and the coroutines of ours that called it, down from the task's
    root (where trio's run loop calls in), outermost first."""
    names = []
    caller: FrameType | None = sys._getframe(1)
    while caller is not None and f"{os.sep}trio{os.sep}" not in caller.f_code.co_filename:
        names.append(caller.f_code.co_name)
        caller = caller.f_back
    return names[::-1]


def _requests_alive() -> list[Request]:
    gc.collect()
    return [thing for thing in gc.get_objects() if type(thing) is Request]


async def test_an_idle_connection_keeps_no_request_and_no_server_frame_above_the_app() -> None:
    stacks: list[list[str]] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:  # trio_ws.serve itself: no test wrapper
            [url] = await nursery.start(partial(serve, _echo_app(stacks), "127.0.0.1", 0))
            async with await connect(port_of(url), upgrade_request()) as client:
                await client.stream.send_all(frame(0x1, b"hello"))
                echoed = await client.next_frame()
                await trio.testing.wait_all_tasks_blocked()
                assert not _requests_alive()  # the handshake's parser (and its request) is gone
                await client.stream.send_all(frame(0x1, b"again"))  # and frames still parse
                again = await client.next_frame()
            nursery.cancel_scope.cancel()
    assert (echoed.data, again.data) == (b"hello", b"again")
    # the connection's task: one coroutine of the server's, then the application's own
    assert stacks == [["handle_connection", "app"]]


async def test_the_message_queue_is_given_back_once_empty_and_a_burst_arrives_in_order() -> None:
    """A connection whose application took every message keeps no queue of its own (no
    keepalive pass needed), and messages that came in one packet are all delivered, in order."""
    connections: list[EngineConnection] = []
    words = [f"message {i}".encode() for i in range(6)]
    with trio.fail_after(10):
        async with (
            serve_app(_echo_app([]), ping_interval=None) as url,
            await connect(port_of(url), upgrade_request()) as client,
        ):
            await client.stream.send_all(frame(0x1, b"first"))
            first = await client.next_frame()
            await trio.testing.wait_all_tasks_blocked()
            gc.collect()  # connections of earlier tests still waiting for the collector
            connections += [
                c
                for c in gc.get_objects()
                if type(c) is EngineConnection and c.exchange.end is None
            ]
            assert len(connections) == 1
            assert connections[0]._pending is _NO_MESSAGES  # the shared one, not an empty copy
            await client.stream.send_all(b"".join(frame(0x1, word) for word in words))
            burst = [(await client.next_frame()).data for _ in words]
            await trio.testing.wait_all_tasks_blocked()
            assert connections[0]._pending is _NO_MESSAGES
    assert first.data == b"first"
    assert burst == words


async def test_scopes_share_the_server_address_and_common_header_lines_and_read_as_sent() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        scopes.append(scope)
        await receive()
        await send({"type": "websocket.close", "code": 1000})

    extra = b"connection: upgrade\r\nX-Trace: Upgrade\r\n"
    with trio.fail_after(10):
        async with serve_app(app) as url:
            for request in (upgrade_request(), upgrade_request(extra)):
                async with await connect(port_of(url), request) as client:
                    await client.frames_until_eof()
    first, second = scopes
    assert first["server"] == second["server"] == ("127.0.0.1", port_of(url))
    assert first["server"] is second["server"]  # one tuple per local address
    headers = [dict(scope["headers"]) for scope in scopes]
    assert headers[0][b"upgrade"] == headers[1][b"upgrade"] == b"websocket"
    assert headers[0][b"connection"] == b"Upgrade"
    assert second["headers"][-2:] == [(b"connection", b"upgrade"), (b"x-trace", b"Upgrade")]
    assert headers[0][b"sec-websocket-key"] != headers[1][b"sec-websocket-key"]
    shared = [pair for pair in first["headers"] if pair in second["headers"]]
    assert (b"upgrade", b"websocket") in shared
    for pair in shared:
        if pair[0] != b"host":  # Host is the server's, not a line every client sends alike
            assert any(pair is other for other in second["headers"]), pair


def _accept(protocol: EngineProtocol, request: Request) -> None:
    response = protocol.accept(request)
    assert response.status_code == 101
    protocol.send_response(response)


def test_the_frame_parser_after_the_head_takes_over_at_the_heads_end() -> None:
    """``parse_upgrade`` feeds the protocol the head only and gives it a fresh frame parser
    (so the request is not kept), whatever followed the head: that is kept raw as
    ``Upgrade.early``, and the frame is parsed whole once it is fed, after the 101."""
    message = frame(0x1, b"split across reads")
    for after_head in (b"", message[:1], message[:3], message[:9]):
        protocol = EngineProtocol()
        upgrade = parse_upgrade(protocol, upgrade_request() + after_head)
        assert upgrade is not None
        assert upgrade.early == after_head
        request = weakref.ref(upgrade.request)
        _accept(protocol, upgrade.request)
        del upgrade
        gc.collect()
        assert request() is None, after_head
        assert protocol.events_received() == []
        if after_head:
            protocol.receive_data(after_head)
        protocol.receive_data(message[len(after_head) :])
        [received] = protocol.events_received()
        assert isinstance(received, Frame)
        assert received.opcode is Opcode.TEXT
        assert received.data == b"split across reads"

"""No connection outlives its client, no client pins the server, violations get a close frame."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio

from trio_ws import WebSocket, WebSocketDisconnect, websocket_app
from trio_ws.testing import serve_app

from ._raw import close_code, connect, frame, port_of, reset, upgrade_request

if TYPE_CHECKING:
    from trio_ws._types import Receive, Scope, Send

_CHUNK = b"x" * 2**18


class _Counter:
    def __init__(self, expected: int = 10) -> None:
        self.active = 0
        self.started = 0
        self.expected = expected
        self.ended: list[str] = []
        #: Set when ``expected`` connections started and none is active any more.
        self.all_ended = trio.Event()

    def end(self) -> None:
        self.active -= 1
        if not self.active and self.started >= self.expected:
            self.all_ended.set()


def _direct_echo(counter: _Counter) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        counter.active += 1
        counter.started += 1
        try:
            ws = WebSocket(scope, receive, send)
            await ws.accept()
            while True:
                await ws.send_bytes(await ws.receive_bytes())
        except WebSocketDisconnect as exc:
            counter.ended.append(f"disconnect {exc.code}")
        finally:
            counter.end()

    return app


def _structured_echo(counter: _Counter) -> Any:
    async def handler(ws: WebSocket) -> None:
        counter.active += 1
        counter.started += 1
        try:
            await ws.accept()
            async for message in ws.iter_bytes():
                await ws.send_bytes(message)
            counter.ended.append("done")
        finally:
            counter.end()

    return websocket_app(handler, overflow="block")


async def _burst_and_leave(port: int) -> None:
    async with await connect(port, upgrade_request(), rcvbuf=4096) as client:
        with trio.move_on_after(2):
            for _ in range(20):
                await client.stream.send_all(frame(0x2, _CHUNK))
        reset(client.stream)


@pytest.mark.parametrize("make_app", [_direct_echo, _structured_echo], ids=["direct", "structured"])
async def test_clients_that_burst_never_read_and_reset_leave_no_connection(make_app: Any) -> None:
    """10 clients send 20 x 256 KiB, read nothing and reset: every connection ends soon."""
    counter = _Counter()
    with trio.fail_after(30):
        async with serve_app(make_app(counter), read_timeout=None, ping_interval=None) as url:
            async with trio.open_nursery() as nursery:
                for _ in range(10):
                    nursery.start_soon(_burst_and_leave, port_of(url))
            with trio.move_on_after(10):
                await counter.all_ended.wait()
            assert counter.started == 10
            assert counter.active == 0, f"{counter.active} connections outlived their client"


async def test_a_deadline_around_a_send_to_a_stuck_peer_fires_and_aborts() -> None:
    outcome: list[Any] = []
    done = trio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        started = trio.current_time()
        for _ in range(400):  # the client's small buffer fills long before 25 MiB
            with trio.move_on_after(0.5) as waiting:
                await send({"type": "websocket.send", "bytes": _CHUNK[: 2**16]})
            if waiting.cancelled_caught:
                outcome.append(("fired after", trio.current_time() - started))
                break
        outcome.append(await receive())
        try:
            await send({"type": "websocket.send", "text": "after"})
        except OSError:
            outcome.append("OSError")
        done.set()

    with trio.fail_after(15):
        async with (
            serve_app(app, ping_interval=None) as url,
            await connect(port_of(url), upgrade_request(), rcvbuf=4096),
        ):
            await done.wait()
    assert outcome[0][0] == "fired after"
    assert outcome[0][1] < 5
    assert outcome[1]["type"] == "websocket.disconnect"
    assert outcome[1]["code"] == 1006
    assert outcome[1]["trio_ws.closed_by"] == "server"  # the server aborted: not the client
    assert outcome[2] == "OSError"


@pytest.mark.parametrize("how", ["reset", "close-frame"])
async def test_a_send_only_handler_learns_that_the_client_left(how: str) -> None:
    ended: list[Any] = []
    done = trio.Event()
    connected = trio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        connected.set()
        try:
            for _ in range(1000):  # at most 10 s
                await ws.send_text("tick")
                await trio.sleep(0.01)
        except WebSocketDisconnect as exc:
            ended.append(exc.code)
        done.set()

    with trio.fail_after(15):
        async with (
            serve_app(app, ping_interval=None) as url,
            await connect(port_of(url), upgrade_request()) as client,
        ):
            await connected.wait()
            if how == "reset":
                reset(client.stream)
            else:
                await client.stream.send_all(frame(0x8, (1000).to_bytes(2, "big")))
                await client.stream.aclose()
            started = trio.current_time()
            await done.wait()
            elapsed = trio.current_time() - started
    assert len(ended) == 1
    assert elapsed < 2


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (frame(0x1, b"\xff\xfe"), 1007),  # invalid UTF-8
        (frame(0x1, b"ok", fin=False) + frame(0x0, b"\xc3"), 1007),  # split, then cut short
        (frame(0x3, b"x"), 1002),  # reserved opcode
        (frame(0x1, b"x", rsv=0b010), 1002),  # reserved bit, no extension
        (frame(0x9, b"x", fin=False), 1002),  # fragmented control frame
        (frame(0x9, b"x" * 126), 1002),  # control frame over 125 bytes
        (frame(0x0, b"x"), 1002),  # continuation without a start
    ],
    ids=["utf8", "utf8-fragmented", "opcode", "rsv", "fragmented-ping", "long-ping", "cont"],
)
async def test_protocol_violations_get_a_close_frame_before_the_tcp_close(
    data: bytes, expected: int
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass

    with trio.fail_after(10):
        async with serve_app(app) as url, await connect(port_of(url), upgrade_request()) as client:
            await client.stream.send_all(data)
            frames = await client.frames_until_eof()
    assert close_code(frames) == expected

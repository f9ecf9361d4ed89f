"""The accept loop on a plain TCP listener takes the connections already waiting in the backlog
in one wake-up (`PlainSocketListener.accept_waiting`), up to `ACCEPT_BATCH`; an error in the
middle of a batch loses no accepted connection and is reported by the next ``accept``."""

from __future__ import annotations

import errno
import socket
from typing import Any

import pytest
import trio
import trio.testing

from trio_ws._accept import ACCEPT_BATCH, PlainSocketListener, accept_connections
from trio_ws.testing import serve_app

from ._raw import port_of, read_head, upgrade_request


def _listening() -> tuple[PlainSocketListener, int]:
    sock = _bound()
    return PlainSocketListener(sock), sock.getsockname()[1]


class _CountingListener(PlainSocketListener):
    """Counts the waiting ``accept`` calls (each one a task step of the accept loop)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.waiting_accepts = 0

    async def accept(self) -> trio.SocketStream:
        self.waiting_accepts += 1
        return await super().accept()


async def test_accept_waiting_takes_a_queued_connection_without_a_checkpoint() -> None:
    listener, port = _listening()
    with trio.fail_after(10):
        async with listener:
            assert listener.accept_waiting() is None  # nothing queued: no wait either
            client = await trio.open_tcp_stream("127.0.0.1", port)  # queued once connected
            async with client:
                with trio.testing.assert_no_checkpoints():
                    stream = listener.accept_waiting()
                assert isinstance(stream, trio.SocketStream)
                async with stream:
                    await client.send_all(b"ping")
                    assert await stream.receive_some(4) == b"ping"
                assert listener.accept_waiting() is None


async def test_accept_waiting_on_a_closed_listener_raises() -> None:
    listener, _port = _listening()
    await listener.aclose()
    with pytest.raises(OSError, match="Bad file descriptor"):
        listener.accept_waiting()


async def _accept_all(listener: PlainSocketListener, port: int, count: int) -> list[Any]:
    """Connect ``count`` clients first, then run the accept loop until it handed every one of
    them to the handler; the streams the handler got."""
    handled: list[Any] = []
    all_handled = trio.Event()

    async def handler(stream: trio.SocketStream) -> None:
        handled.append(stream)
        if len(handled) == count:
            all_handled.set()
        try:
            await trio.sleep_forever()
        finally:
            await trio.aclose_forcefully(stream)  # a handler owns its stream

    clients = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(count)]
    async with listener, trio.open_nursery() as nursery:
        nursery.start_soon(accept_connections, listener, handler, nursery)
        await all_handled.wait()
        nursery.cancel_scope.cancel()
    for client in clients:
        await client.aclose()
    return handled


def _bound() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    return sock


async def test_a_burst_of_waiting_connections_is_accepted_in_one_wake_up() -> None:
    sock = _bound()
    listener = _CountingListener(sock)
    with trio.fail_after(10):
        handled = await _accept_all(listener, sock.getsockname()[1], 10)
    # One waiting accept took the first; the other nine were already there (the loop then
    # waits in a second accept). Accepted one by one, it would take ten.
    assert listener.waiting_accepts == 2
    assert len({id(stream) for stream in handled}) == 10


class _FailingMidBatch(PlainSocketListener):
    """`accept_waiting` fails with ``EMFILE`` after taking ``before`` connections."""

    def __init__(self, sock: socket.socket, before: int) -> None:
        super().__init__(sock)
        self.before = before
        self.failures = 0

    def accept_waiting(self) -> trio.SocketStream | None:
        if self.before == 0:
            self.failures += 1
            self.before = -1  # once
            raise OSError(errno.EMFILE, "Too many open files")
        self.before -= 1
        return super().accept_waiting()


async def test_an_error_in_a_batch_loses_no_accepted_connection() -> None:
    sock = _bound()
    listener = _FailingMidBatch(sock, before=2)
    with trio.fail_after(10):
        handled = await _accept_all(listener, sock.getsockname()[1], 6)
    assert listener.failures == 1
    assert len(handled) == 6  # the three taken before the error, then the rest


def test_a_batch_is_bounded() -> None:
    assert 1 < ACCEPT_BATCH <= 1024


async def test_a_burst_of_handshakes_on_serve_is_answered() -> None:
    """``trio_ws.serve``'s plain listener: 20 upgrade requests sent at once all get a 101."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await receive()

    with trio.fail_after(20):
        async with serve_app(app) as url:
            port = port_of(url)
            streams = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(20)]
            for stream in streams:
                await stream.send_all(upgrade_request())
            for stream in streams:
                head, _rest = await read_head(stream)
                assert head.startswith(b"HTTP/1.1 101"), head
                await stream.aclose()

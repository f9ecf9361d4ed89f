"""Connections among connections: whose disconnect it is, and the rules tasks follow.

A chat-like application has handlers that send to *other* connections. A peer that leaves
raises its ``WebSocketDisconnect`` in the sender's task; that must not end the sender's
connection as if its own client had left. Tasks in ``ws.nursery`` follow the handler's rules.
All in memory, over the three ASGI versions the emulator speaks.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from trio_ws import (
    ClosedBy,
    ConnectionOptions,
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
)
from trio_ws.testing import ConnectionClosed, connect

SPECS = pytest.mark.parametrize("spec", ["2.3", "2.4", "2.5"])


def structured_app(handler: Any, receive_wrapper: Any = None, **options: Any) -> Any:
    """A plain ASGI app running ``handler(ws)`` inside the structured block."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if receive_wrapper is not None:
            receive = receive_wrapper(receive)
        async with WebSocket(scope, receive, send, options=ConnectionOptions(**options)) as ws:
            await handler(ws)

    return app


class Room:
    """Two members; each forwards what its client says to the other one."""

    def __init__(self, *, catch_per_peer: bool) -> None:
        self.members: dict[str, WebSocket] = {}
        self.left: dict[str, trio.Event] = {"a": trio.Event(), "b": trio.Event()}
        self.catch_per_peer = catch_per_peer
        self.sockets: dict[str, WebSocket] = {}

    async def handler(self, ws: WebSocket) -> None:
        name = ws.query_params["name"]
        await ws.accept()
        self.members[name] = ws
        self.sockets[name] = ws
        try:
            async for text in ws.iter_text():
                for other, peer in list(self.members.items()):
                    if other == name:
                        continue
                    if not self.catch_per_peer:
                        await peer.send_text(text)
                        continue
                    try:
                        await peer.send_text(text)
                    except WebSocketDisconnect:
                        self.members.pop(other, None)
                        await ws.send_text(f"{other} has left")
        finally:
            # A slow cleanup: the member stays listed after its client left.
            self.left[name].set()


@SPECS
async def test_a_peers_disconnect_is_an_error_of_the_sender(spec: str) -> None:
    """A handler that lets a departed peer's WebSocketDisconnect escape is closed with 1011
    (not 1000, not silently), and the exception, naming the peer, reaches the server."""
    room = Room(catch_per_peer=False)
    app = structured_app(room.handler)
    with trio.fail_after(5):
        async with connect(app, "/?name=a", spec_version=spec, raise_app_exceptions=False) as a:
            async with connect(app, "/?name=b", spec_version=spec) as b:
                await b.send_text("hello from b")
                assert await a.receive_text() == "hello from b"
                await b.close(1000)
            await room.left["b"].wait()
            await a.send_text("anyone there?")
            with pytest.raises(ConnectionClosed) as closed:
                await a.receive_text()
            await a.wait_app_finished()
            failure = a.app_exception
    assert closed.value.code == 1011
    assert isinstance(failure, WebSocketDisconnect)
    assert failure.connection is room.sockets["b"]
    assert room.sockets["a"].closed_by is ClosedBy.ERROR
    assert room.sockets["b"].closed_by is ClosedBy.CLIENT


@SPECS
async def test_catching_per_peer_keeps_the_sender_connected(spec: str) -> None:
    """The documented loop: catch WebSocketDisconnect around each peer's send, drop the peer,
    carry on. The sender's own connection is untouched."""
    room = Room(catch_per_peer=True)
    app = structured_app(room.handler)
    with trio.fail_after(5):
        async with connect(app, "/?name=a", spec_version=spec) as a:
            async with connect(app, "/?name=b", spec_version=spec) as b:
                await b.close(1000)
            await room.left["b"].wait()
            await a.send_text("anyone there?")
            assert await a.receive_text() == "b has left"
            await a.close(1000)
            await a.wait_app_finished()
            assert a.app_exception is None
    assert room.sockets["a"].closed_by is ClosedBy.CLIENT


async def test_the_connection_a_disconnect_belongs_to_is_on_the_exception() -> None:
    """Own disconnects name their own connection, so a handler can tell the two apart."""
    seen: list[Any] = []

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.receive_text()
        except WebSocketDisconnect as exc:
            seen.append(exc.connection is ws)
            raise

    with trio.fail_after(5):
        async with connect(structured_app(handler)) as client:
            await client.close(4000)
            await client.wait_app_finished()
            assert client.app_exception is None
    assert seen == [True]


async def test_misuse_errors_name_their_connection() -> None:
    """WebSocketDisconnected (a RuntimeError) and LocalProtocolError carry the WebSocket."""
    from trio_ws import LocalProtocolError, WebSocketDisconnected

    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        with pytest.raises(LocalProtocolError) as early:
            await ws.send_text("before accept")
        seen.append(early.value.connection is ws)
        await ws.accept()
        await ws.close()
        with pytest.raises(WebSocketDisconnected) as late:
            await ws.send_text("after close")
        seen.append(late.value.connection is ws)

    with trio.fail_after(5):
        async with connect(app) as client:
            await client.wait_app_finished()
    assert seen == [True, True]


async def test_a_user_raised_disconnect_still_ends_the_block_normally() -> None:
    """``raise WebSocketDisconnect()`` written by hand (no connection) is the block's own."""

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        raise WebSocketDisconnect(1000)

    with trio.fail_after(5):
        async with connect(structured_app(handler)) as client:
            with pytest.raises(ConnectionClosed) as closed:
                await client.receive_text()
            await client.wait_app_finished()
            assert client.app_exception is None
    assert closed.value.code == 1000


# ------------------------------------------------------------------ tasks in ws.nursery


@SPECS
async def test_a_task_raising_websocket_exception_closes_with_its_code(spec: str) -> None:
    """``WebSocketException(4001)`` in a task closes with 4001, as in the handler."""

    async def kicker(ws: WebSocket) -> None:
        raise WebSocketException(4001, "kicked")

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        ws.start_soon(kicker, ws)
        await ws.wait_disconnected()

    with trio.fail_after(5):
        async with connect(structured_app(handler), spec_version=spec) as client:
            with pytest.raises(ConnectionClosed) as closed:
                await client.receive_text()
            await client.wait_app_finished()
            assert client.app_exception is None
    assert (closed.value.code, closed.value.reason) == (4001, "kicked")


@SPECS
async def test_a_sending_task_ends_normally_when_its_client_leaves(spec: str) -> None:
    """A task sending in a loop gets its own connection's disconnect when the client leaves:
    the block ends normally, whatever the ASGI version (1006 from OSError, or the code)."""
    outcome: list[Any] = []

    async def ticker(ws: WebSocket) -> None:
        while True:
            await ws.send_text("tick")
            await trio.sleep(0.005)

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        ws.start_soon(ticker, ws)
        outcome.append(ws)
        await ws.wait_disconnected()
        await trio.sleep(0.05)  # the ticker meets the disconnect meanwhile

    with trio.fail_after(5):
        async with connect(structured_app(handler), spec_version=spec) as client:
            assert await client.receive_text() == "tick"
            await client.close(4000)
            await client.wait_app_finished()
            assert client.app_exception is None
    assert outcome[0].closed_by is ClosedBy.CLIENT


async def test_a_failing_task_gives_1011_and_its_exception_unwrapped() -> None:
    """One error in a task: close 1011, and the error itself (not an ExceptionGroup)."""

    async def broken(ws: WebSocket) -> None:
        raise KeyError("broken")

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        ws.start_soon(broken, ws)
        await trio.sleep_forever()

    with trio.fail_after(5):
        async with connect(structured_app(handler), raise_app_exceptions=False) as client:
            with pytest.raises(ConnectionClosed) as closed:
                await client.receive_text()
            await client.wait_app_finished()
            failure = client.app_exception
    assert closed.value.code == 1011
    assert type(failure) is KeyError


async def test_two_tasks_meeting_their_own_disconnect_end_normally() -> None:
    """Several tasks seeing the client leave at once: a normal end, no group."""

    async def ticker(ws: WebSocket) -> None:
        while True:
            await ws.send_text("tick")
            await trio.sleep(0.001)

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        ws.start_soon(ticker, ws)
        ws.start_soon(ticker, ws)
        await trio.sleep_forever()

    with trio.fail_after(5):
        async with connect(structured_app(handler)) as client:
            await client.receive_text()
            await client.close(4000)
            await client.wait_app_finished()
            assert client.app_exception is None


async def test_a_group_of_own_disconnects_from_the_apps_nursery_ends_normally() -> None:
    """The handler's own nursery wraps the disconnect in a group; its leaves decide."""

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws.receive_text)
            nursery.start_soon(trio.sleep_forever)

    with trio.fail_after(5):
        async with connect(structured_app(handler)) as client:
            await client.close(4000)
            await client.wait_app_finished()
            assert client.app_exception is None


async def test_a_peers_disconnect_in_a_task_is_an_error() -> None:
    """In a task too, another connection's disconnect is an error: 1011, raised unwrapped."""
    peer_ws: list[WebSocket] = []
    peer_gone = trio.Event()

    async def peer_handler(ws: WebSocket) -> None:
        await ws.accept()
        peer_ws.append(ws)
        await ws.wait_disconnected()
        peer_gone.set()

    async def forwarder(ws: WebSocket) -> None:
        await peer_gone.wait()
        await peer_ws[0].send_text("for the peer")

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        ws.start_soon(forwarder, ws)
        await ws.wait_disconnected()

    with trio.fail_after(5):
        async with connect(structured_app(handler), raise_app_exceptions=False) as client:
            async with connect(structured_app(peer_handler)) as peer:
                await peer.close(1000)
            with pytest.raises(ConnectionClosed) as closed:
                await client.receive_text()
            await client.wait_app_finished()
            failure = client.app_exception
    assert closed.value.code == 1011
    assert isinstance(failure, WebSocketDisconnect)
    assert failure.connection is peer_ws[0]


# ------------------------------------------------------------------ the receive callable raising


def limiting(receive: Any, readers: list[str]) -> Any:
    """A receive wrapper that refuses a message, as a size limit does: WebSocketException."""

    async def limited() -> Any:
        message = await receive()
        if message.get("text") == "too big":
            readers.append(trio.lowlevel.current_task().name)
            raise WebSocketException(1009, "message too big")
        return message

    return limited


@pytest.mark.parametrize("reader", ["app", "pump"])
async def test_an_exception_from_the_receive_callable_closes_with_its_code(reader: str) -> None:
    """``WebSocketException(1009)`` raised by the ASGI ``receive`` (a limit) closes with 1009,
    whether the application was reading directly or the pump was reading for it."""
    readers: list[str] = []
    outcome: list[Any] = []

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        outcome.append(ws)
        if reader == "app":
            async for text in ws.iter_text():
                await ws.send_text(text)
        else:
            await ws.wait_disconnected()

    app = structured_app(handler, lambda receive: limiting(receive, readers))
    with trio.fail_after(5):
        async with connect(app) as client:
            if reader == "app":
                for text in ("one", "two"):
                    await client.send_text(text)
                    assert await client.receive_text() == text
                await trio.sleep(0.01)  # the handler sits in receive again
            await client.send_text("too big")
            with pytest.raises(ConnectionClosed) as closed:
                await client.receive_text()
            await client.wait_app_finished()
            assert client.app_exception is None
    assert (closed.value.code, closed.value.reason) == (1009, "message too big")
    assert (outcome[0].close_code, outcome[0].closed_by) == (1009, ClosedBy.APP)
    assert len(readers) == 1
    assert ("pump" in readers[0]) is (reader == "pump")


async def test_the_chat_room_example_survives_a_member_leaving() -> None:
    """examples/chat_room.py relays between members and carries on when one has left."""
    from examples import chat_room

    with trio.fail_after(5):
        async with connect(chat_room.app) as alice, connect(chat_room.app) as bob:
            await trio.testing.wait_all_tasks_blocked()
            await alice.send_text("hi bob")
            assert await bob.receive_text() == "hi bob"
            before = set(chat_room.members)
            await bob.close(1000)
            await bob.wait_app_finished()
            (gone,) = before - chat_room.members
            chat_room.members.add(gone)  # as if bob's cleanup had not run yet
            await alice.send_text("still there?")
            await alice.send_text("bye")
            await trio.testing.wait_all_tasks_blocked()
            assert alice.close_code is None  # alice's connection was not closed
            assert alice.app_exception is None
    assert not chat_room.members

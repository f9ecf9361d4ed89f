"""A connection at rest: after a pong, the application's wait for data parks on the read
poller, which reads later pongs (and answers a client's pings) without waking its task; data,
the end of the connection, an abort and cancellation still reach it as before."""

from __future__ import annotations

import gc
import shutil
import ssl
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
import trio
from trio.testing import wait_all_tasks_blocked
from websockets.frames import Close, Opcode

import trio_ws
from trio_ws._engine import _poller
from trio_ws._engine._connection import EngineConnection
from trio_ws.testing import serve_app

from ._raw import RawClient, close_code, connect, frame, port_of, tls_server, upgrade_request

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from trio_ws._types import Receive, Scope, Send

DEFLATE = b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"


class StepCounter(trio.abc.Instrument):
    """Counts the steps of the tasks it is told to watch."""

    def __init__(self) -> None:
        self.watched: set[trio.lowlevel.Task] = set()
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task in self.watched:
            self.steps += 1


@pytest.fixture
async def steps() -> AsyncIterator[StepCounter]:
    """A step counter installed for the test's run."""
    counter = StepCounter()
    trio.lowlevel.add_instrument(counter)
    try:
        yield counter
    finally:
        trio.lowlevel.remove_instrument(counter)


class EchoApp:
    """Echoes text; records what it received and how it ended; its receive can be cancelled
    from outside (``scope``)."""

    def __init__(self, steps: StepCounter) -> None:
        self.steps = steps
        self.received: list[dict[str, Any]] = []
        self.scope: trio.CancelScope | None = None
        self.cancelled = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # the keep-alive client's first request
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"2")],
                }
            )
            await send({"type": "http.response.body", "body": b"ok"})
            return
        if scope["type"] != "websocket":
            return
        self.steps.watched.add(trio.lowlevel.current_task())
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            with trio.CancelScope() as self.scope:
                message = await receive()
            if self.scope.cancelled_caught:
                self.cancelled += 1
                continue
            self.received.append(message)
            if message["type"] != "websocket.receive":
                return
            echo = message.get("text")
            if echo is not None:
                await send({"type": "websocket.send", "text": echo})


async def answer_pings(client: RawClient, count: int) -> None:
    """Answer the server's next ``count`` pings; return once the server read the last pong."""
    for _ in range(count):
        ping = await client.next_frame()
        assert ping.opcode is Opcode.PING
        await client.stream.send_all(frame(0xA, bytes(ping.data)))
    await wait_all_tasks_blocked()


def parked_readers() -> int:
    return _poller._POLLER.get().parked


def the_connection() -> EngineConnection:
    gc.collect()
    [connection] = [thing for thing in gc.get_objects() if type(thing) is EngineConnection]
    return connection


async def next_data_frame(client: RawClient) -> bytes:
    """The data of the next frame that is not a ping (pings are answered)."""
    while (item := await client.next_frame()).opcode is Opcode.PING:
        await client.stream.send_all(frame(0xA, bytes(item.data)))
    return bytes(item.data)


async def bring_to_rest(client: RawClient) -> None:
    """One echo, then one pong (which still wakes the application's task): at rest."""
    await client.stream.send_all(frame(0x1, b"hello"))
    assert (await client.next_frame()).data == b"hello"
    await answer_pings(client, 1)
    assert parked_readers() == 1


async def rests_then_echoes(client: RawClient, steps: StepCounter, text: bytes) -> None:
    """At rest, five pongs do not step the application's task; then ``text`` is echoed."""
    await bring_to_rest(client)
    before = steps.steps
    await answer_pings(client, 5)
    assert steps.steps == before
    await client.stream.send_all(frame(0x1, text))
    assert await next_data_frame(client) == text


@asynccontextmanager
async def at_rest(app: EchoApp, *, extra: bytes = b"", **settings: Any) -> AsyncIterator[RawClient]:
    """Serve ``app`` (pings every 0.1 s); a client whose connection is at rest."""
    settings.setdefault("ping_interval", 0.1)
    settings.setdefault("ping_timeout", 5.0)
    async with (
        serve_app(app, **settings) as url,
        await connect(port_of(url), upgrade_request(extra)) as client,
    ):
        await bring_to_rest(client)
        yield client


async def test_pongs_at_rest_do_not_wake_the_application_task(steps: StepCounter) -> None:
    app = EchoApp(steps)
    with trio.fail_after(10):
        async with at_rest(app) as client:
            before = steps.steps
            await answer_pings(client, 5)
            assert steps.steps == before  # five pongs read, the task never stepped
            assert parked_readers() == 1
            # the keepalive saw them: the round trip is measured, nothing unanswered
            connection = the_connection()
            assert connection.keepalive["latency"] is not None
            assert connection.unanswered_since is None
            # data wakes it
            await client.stream.send_all(frame(0x1, b"again"))
            assert await next_data_frame(client) == b"again"
            assert steps.steps > before
    assert [m.get("text") for m in app.received[:2]] == ["hello", "again"]


async def test_what_arrives_at_rest_reaches_the_application_in_order(steps: StepCounter) -> None:
    app = EchoApp(steps)
    with trio.fail_after(10):
        async with at_rest(app) as client:
            # a client's ping is answered without waking the task
            before = steps.steps
            await client.stream.send_all(frame(0x9, b"are you there"))
            pong = await client.next_frame()
            while pong.opcode is Opcode.PING:  # (the server's own pings go on)
                await client.stream.send_all(frame(0xA, bytes(pong.data)))
                pong = await client.next_frame()
            assert (pong.opcode, pong.data) == (Opcode.PONG, b"are you there")
            await wait_all_tasks_blocked()
            assert steps.steps == before
            # the first part of a fragmented message does not wake it either
            await client.stream.send_all(frame(0x1, b"frag", fin=False))
            await wait_all_tasks_blocked()
            assert steps.steps == before
            assert parked_readers() == 1
            # the rest, and two more messages, in one read
            await client.stream.send_all(
                frame(0x0, b"mented") + frame(0x1, b"one") + frame(0x1, b"two")
            )
            echoes = [await next_data_frame(client) for _ in range(3)]
            assert echoes == [b"fragmented", b"one", b"two"]
            await answer_pings(client, 1)
            assert parked_readers() == 1
            # the client's close: the application sees its code, the client the echo
            await client.stream.send_all(frame(0x8, Close(4001, "bye").serialize()))
            assert close_code(await client.frames_until_eof()) == 4001
    assert app.received[-1] == {"type": "websocket.disconnect", "code": 4001, "reason": "bye"}


async def test_a_receive_cancelled_at_rest_loses_nothing() -> None:
    app = EchoApp(StepCounter())
    with trio.fail_after(10):
        async with at_rest(app) as client:
            assert app.scope is not None
            app.scope.cancel()
            await wait_all_tasks_blocked()
            assert app.cancelled == 1
            assert parked_readers() == 1  # its next receive parked again, once
            await client.stream.send_all(frame(0x1, b"after"))
            assert await next_data_frame(client) == b"after"
            # at rest again, then cancelled while a message is half there
            await answer_pings(client, 1)
            assert parked_readers() == 1
            await client.stream.send_all(frame(0x1, b"ha", fin=False))
            await wait_all_tasks_blocked()
            app.scope.cancel()
            await client.stream.send_all(frame(0x0, b"lf"))
            assert await next_data_frame(client) == b"half"
    assert app.cancelled == 2


async def test_a_pong_timeout_at_rest_ends_the_parked_receive() -> None:
    app = EchoApp(StepCounter())
    with trio.fail_after(10):
        async with at_rest(app, ping_timeout=0.3) as client:
            # the client stops answering: 1011, and the aborted socket wakes the application
            assert close_code(await client.frames_until_eof()) == 1011
    assert app.received[-1]["type"] == "websocket.disconnect"
    assert app.received[-1]["code"] == 1011


async def test_pongs_read_at_rest_count_against_read_timeout() -> None:
    app = EchoApp(StepCounter())
    with trio.fail_after(10):
        async with at_rest(app, ping_interval=0.05, read_timeout=0.4) as client:
            await answer_pings(client, 20)  # 1 s at rest, pongs only: 2.5 read timeouts
            assert parked_readers() == 1
            await client.stream.send_all(frame(0x1, b"still here"))
            assert await next_data_frame(client) == b"still here"


async def test_shutdown_reaches_a_receive_at_rest() -> None:
    app = EchoApp(StepCounter())
    stop = trio.Event()

    async def server(task_status: trio.TaskStatus[str]) -> None:
        async with serve_app(app, ping_interval=0.1, ping_timeout=5.0) as url:
            task_status.started(url)
            await stop.wait()  # then the block's exit shuts the server down gracefully

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            url = await nursery.start(server)
            async with await connect(port_of(url), upgrade_request()) as client:
                await bring_to_rest(client)
                stop.set()
                while (item := await client.next_frame()).opcode is not Opcode.CLOSE:
                    await client.stream.send_all(frame(0xA, bytes(item.data)))
                await client.stream.send_all(frame(0x8, bytes(item.data)))
                await client.frames_until_eof()
    assert Close.parse(item.data).code == 1001
    assert app.received[-1]["code"] == 1001


@pytest.mark.parametrize("size", [10, 5000])
async def test_compressed_messages_at_rest(size: int, steps: StepCounter) -> None:
    app = EchoApp(steps)
    with trio.fail_after(10):
        async with at_rest(app, extra=DEFLATE) as client:
            assert b"permessage-deflate" in client.head
            before = steps.steps
            await answer_pings(client, 2)
            assert steps.steps == before
            # uncompressed data frames are allowed on a deflate connection; one larger
            # than a feed slice is handed to the task whole
            text = "x" * size
            await client.stream.send_all(frame(0x1, text.encode()))
            assert await next_data_frame(client) == text.encode()


def parked_or_none() -> int:
    try:
        return _poller._POLLER.get().parked
    except LookupError:  # nothing ever parked in this run
        return 0


async def test_a_keep_alive_upgrade_rests_on_the_poller_too(steps: StepCounter) -> None:
    app = EchoApp(steps)
    with trio.fail_after(10):
        async with (
            serve_app(app, ping_interval=0.1, ping_timeout=5.0) as url,
            await connect(port_of(url), upgrade_request(), keep_alive=True) as client,
        ):
            await rests_then_echoes(client, steps, b"kept alive")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
async def test_tls_at_rest_keeps_trio_streams(tmp_path: Path) -> None:
    app = EchoApp(StepCounter())
    with trio.fail_after(20):
        async with tls_server(tmp_path, app, ping_interval=0.1, ping_timeout=5.0) as (port, cert):
            context = ssl.create_default_context(cafile=cert)
            async with await connect(port, upgrade_request(), tls=context) as client:
                await client.stream.send_all(frame(0x1, b"hello"))
                assert await next_data_frame(client) == b"hello"
                await answer_pings(client, 3)
                assert parked_or_none() == 0  # TLS reads stay on the stream
                connection = the_connection()
                assert connection.unanswered_since is None
                assert connection.keepalive["latency"] is not None
                await client.stream.send_all(frame(0x1, b"secure"))
                assert await next_data_frame(client) == b"secure"


async def test_a_structured_handler_at_rest_is_not_woken_by_pongs(steps: StepCounter) -> None:
    echoed: list[str] = []

    async def handler(ws: trio_ws.WebSocket) -> None:
        steps.watched.add(trio.lowlevel.current_task())
        await ws.accept()
        async for text in ws.iter_text():
            echoed.append(text)
            await ws.send_text(text)

    with trio.fail_after(10):
        async with (
            serve_app(trio_ws.websocket_app(handler), ping_interval=0.1, ping_timeout=5.0) as url,
            await connect(port_of(url), upgrade_request()) as client,
        ):
            await rests_then_echoes(client, steps, b"structured")
    assert echoed == ["hello", "structured"]

"""Fan-out without a task switch per socket (``trio_ws.broadcast._fanout``), on a real
``trio_ws.serve`` with real clients: the publisher writes to every socket that can take the
message now; everything else keeps the subscriber's buffer, bound and overflow policy."""

from __future__ import annotations

import gc
import os
import socket
from functools import partial
from typing import TYPE_CHECKING, Any

import trio
from trio_websocket import open_websocket_url
from websockets.frames import Frame, Opcode
from websockets.sync.client import connect as sync_connect

import trio_ws
from trio_ws import Broadcast, WebSocket, websocket_app
from trio_ws.broadcast._event import BroadcastEvent
from trio_ws.broadcast._fanout import frame_of
from trio_ws.testing import serve_app

from ._support import wait_until

if TYPE_CHECKING:
    from trio_ws.broadcast._subscriber import Subscriber

CLIENT = {"connect_timeout": 5, "disconnect_timeout": 2}


def forwarding_app(broadcast: Broadcast, **options: Any) -> Any:
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await broadcast.forward("room", ws, **options)

    return websocket_app(handler)


def subscribers(broadcast: Broadcast) -> list[Subscriber]:
    return list(broadcast._hub.subscribers("room"))


def test_a_message_is_framed_once_for_every_socket() -> None:
    event = BroadcastEvent("room", "héllo")
    frame = frame_of(event)
    assert frame == Frame(Opcode.TEXT, "héllo".encode()).serialize(mask=False)
    assert frame_of(event) is frame  # the next socket gets the same bytes, not a new frame
    binary = BroadcastEvent("room", b"\x00\x01")
    assert frame_of(binary) == Frame(Opcode.BINARY, b"\x00\x01").serialize(mask=False)


def test_the_remembered_frame_goes_with_its_message() -> None:
    """Once the last delivered event is gone, its frame is not kept alive by the cache."""
    from trio_ws.broadcast import _fanout

    event = BroadcastEvent("room", "x" * 100_000)
    frame_of(event)
    assert len(_fanout._last.frame) > 100_000
    del event
    gc.collect()
    assert _fanout._last.frame == b""


async def test_a_publish_is_written_to_idle_sockets_in_the_publishers_own_pass() -> None:
    """When publish returns, no forwarding task has run, yet every subscriber's message is
    already on its socket: nothing buffered, each counted as delivered."""
    with trio.fail_after(20):
        async with (
            Broadcast() as broadcast,
            serve_app(forwarding_app(broadcast)) as url,
            open_websocket_url(url + "/", **CLIENT) as a,
            open_websocket_url(url + "/", **CLIENT) as b,
            open_websocket_url(url + "/", **CLIENT) as c,
        ):
            await wait_until(lambda: len(subscribers(broadcast)) == 3)
            await broadcast.publish("room", "to all")
            stats = [s.statistics() for s in subscribers(broadcast)]  # no checkpoint since
            assert [(s.delivered, s.buffered) for s in stats] == [(1, 0)] * 3
            await broadcast.publish("room", b"\x00bytes")
            for client in (a, b, c):
                assert await client.get_message() == "to all"
                assert await client.get_message() == b"\x00bytes"


async def test_a_socket_that_cannot_keep_up_falls_back_to_its_buffer_and_policy() -> None:
    """A client that stops reading: its socket fills (some frames only partly fit and are
    finished in the background), then messages wait in the subscriber's buffer of 4 and the
    oldest are dropped. Once it reads again it gets whole messages, in order, no duplicates,
    ending with the last one published."""
    from trio_ws._engine._connection import EngineConnection

    finished: list[int] = []
    original = EngineConnection._write_rest

    async def counting(self: EngineConnection, rest: bytes) -> None:
        finished.append(len(rest))
        await original(self, rest)

    payload = b"." * 65536
    count = 300
    with trio.fail_after(60):
        EngineConnection._write_rest = counting  # type: ignore[method-assign]
        try:
            async with (
                Broadcast() as broadcast,
                serve_app(forwarding_app(broadcast, buffer=4)) as url,
                open_websocket_url(url + "/", message_queue_size=0, **CLIENT) as client,
            ):
                await wait_until(lambda: len(subscribers(broadcast)) == 1)
                for n in range(count):
                    await broadcast.publish("room", n.to_bytes(4, "big") + payload)
                (subscriber,) = subscribers(broadcast)
                dropped = subscriber.statistics().dropped
                assert dropped > 0
                received = []
                while not received or received[-1] != count - 1:
                    message = await client.get_message()
                    assert len(message) == 4 + len(payload)
                    received.append(int.from_bytes(message[:4], "big"))
        finally:
            EngineConnection._write_rest = original  # type: ignore[method-assign]
    assert received == sorted(set(received))
    assert len(received) == count - dropped
    assert finished, "no frame was split across the socket's buffer"


def deflate_client(
    url: str,
    token: trio.lowlevel.TrioToken,
    ready: trio.Event,
    go: trio.Event,
    count: int,
    got: list[str | bytes],
    max_queue: int = 16,
) -> None:
    """A websockets (sync) client in a thread that negotiates permessage-deflate, signals
    ``ready``, waits for ``go`` before reading (with ``max_queue=1`` it stops reading from the
    network meanwhile), then receives ``count`` messages into ``got``."""
    with sync_connect(url, compression="deflate", open_timeout=5, max_queue=max_queue) as ws:
        assert ws.response is not None
        assert "permessage-deflate" in (ws.response.headers.get("Sec-WebSocket-Extensions"))
        trio.from_thread.run_sync(ready.set, trio_token=token)
        trio.from_thread.run(go.wait, trio_token=token)
        got.extend(ws.recv(timeout=20) for _ in range(count))


class CompressionSpy:
    """Counts the messages the fan-out compressed in the publisher's pass, and checks that
    each was compressed only while its socket could take bytes (docs/cancellation.md)."""

    def __init__(self) -> None:
        from trio_ws._engine import _connection

        self.module = _connection
        self.original = _connection.EngineConnection._through_extensions
        self.calls = 0
        self.unwritable = 0

    def __enter__(self) -> CompressionSpy:
        module, original = self.module, self.original

        def spying(connection: Any, frame: bytes) -> bytes:
            self.calls += 1
            fd = connection._transport.socket.fileno()
            self.unwritable += not module._writable_now(fd)
            return original(connection, frame)

        module.EngineConnection._through_extensions = spying  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.module.EngineConnection._through_extensions = self.original  # type: ignore[method-assign]


async def test_with_compression_each_socket_compresses_in_the_publishers_pass() -> None:
    """permessage-deflate: each connection compresses with its own context, still in the
    publisher's pass (no buffering, no forwarding task), and every client inflates every
    message, text and bytes, repeated ones too (context takeover: the second copy refers back
    to the first)."""
    clients, messages = 3, ["squeezed " * 20, b"\x00bytes" * 30, "squeezed " * 20, "é" * 50]
    got: list[list[str | bytes]] = [[] for _ in range(clients)]
    ready, go = [trio.Event() for _ in range(clients)], trio.Event()
    with trio.fail_after(30), CompressionSpy() as spy:
        async with (
            Broadcast() as broadcast,
            serve_app(forwarding_app(broadcast)) as url,
            trio.open_nursery() as nursery,
        ):
            token = trio.lowlevel.current_trio_token()
            for n in range(clients):
                client = partial(
                    deflate_client, url + "/", token, ready[n], go, len(messages), got[n]
                )
                nursery.start_soon(trio.to_thread.run_sync, client)
            for event in ready:
                await event.wait()
            await wait_until(lambda: len(subscribers(broadcast)) == clients)
            for n, message in enumerate(messages, 1):
                await broadcast.publish("room", message)
                stats = [s.statistics() for s in subscribers(broadcast)]  # no checkpoint since
                assert [(s.delivered, s.buffered) for s in stats] == [(n, 0)] * clients
            go.set()
    assert spy.calls == clients * len(messages)
    assert spy.unwritable == 0
    assert got == [messages] * clients


async def test_with_compression_direct_and_ordinary_sends_share_one_compressor() -> None:
    """On one compressed connection, messages written by the publisher's pass and messages
    the application sends itself go through the same compressor, in order: trio_ws's own
    client (permessage-deflate by default) inflates all of them."""

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        ws.start_soon(broadcast.forward, "room", ws)
        async for text in ws.iter_text():
            await ws.send_text("echo " + text)  # the ordinary send, on the same compressor

    with trio.fail_after(30), CompressionSpy() as spy:
        async with (
            Broadcast() as broadcast,
            serve_app(websocket_app(handler)) as url,
            trio_ws.connect(url + "/", compression="deflate") as client,
        ):
            await wait_until(lambda: len(subscribers(broadcast)) == 1)
            for n in range(5):
                await broadcast.publish("room", f"published {n} " * 10)
                assert await client.receive_text() == f"published {n} " * 10
                await client.send_text(f"said {n} " * 10)
                assert await client.receive_text() == "echo " + f"said {n} " * 10
    assert spy.calls >= 1  # a publish right after the echo may find its send still going
    assert spy.unwritable == 0


async def test_with_compression_a_full_socket_falls_back_without_compressing() -> None:
    """A compressed client that stops reading (a small receive buffer, ``max_queue=1``): once
    its socket cannot take bytes, nothing more is compressed in the publisher's pass (a
    message compressed but not sent would have moved the compressor on); messages wait in the
    subscriber's buffer of 4 and the oldest are dropped. Once it reads again it inflates whole
    messages, in order, no duplicates, ending with the last one published."""
    count = 3000
    payloads = [n.to_bytes(4, "big") + os.urandom(2048) for n in range(count)]  # incompressible
    got: list[bytes] = []
    ready, go = trio.Event(), trio.Event()
    with trio.fail_after(60), CompressionSpy() as spy:
        async with (
            Broadcast() as broadcast,
            serve_app(forwarding_app(broadcast, buffer=4)) as url,
            trio.open_nursery() as nursery,
        ):
            token = trio.lowlevel.current_trio_token()
            port = int(url.rsplit(":", 1)[1])

            def client() -> None:
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.connect(("127.0.0.1", port))
                with sync_connect(
                    url + "/", sock=sock, compression="deflate", open_timeout=5, max_queue=1
                ) as ws:
                    trio.from_thread.run_sync(ready.set, trio_token=token)
                    trio.from_thread.run(go.wait, trio_token=token)
                    while not got or got[-1] != payloads[-1]:
                        got.append(bytes(ws.recv(timeout=20)))

            nursery.start_soon(trio.to_thread.run_sync, client)
            await ready.wait()
            await wait_until(lambda: len(subscribers(broadcast)) == 1)
            for payload in payloads:
                await broadcast.publish("room", payload)
            (subscriber,) = subscribers(broadcast)
            dropped = subscriber.statistics().dropped
            assert dropped > 0
            go.set()
    assert spy.unwritable == 0
    assert 0 < spy.calls < count  # some went in passing, until the socket was full
    numbers = [int.from_bytes(message[:4], "big") for message in got]
    assert got == [payloads[n] for n in numbers]
    assert numbers == sorted(set(numbers))
    assert len(numbers) == count - dropped

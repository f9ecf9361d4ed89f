"""Fan-out without a task switch per socket (``trio_ws.broadcast._fanout``), on a real
``trio_ws.serve`` with real clients: the publisher writes to every socket that can take the
message now; everything else keeps the subscriber's buffer, bound and overflow policy."""

from __future__ import annotations

import gc
from functools import partial
from typing import TYPE_CHECKING, Any

import trio
from trio_websocket import open_websocket_url
from websockets.frames import Frame, Opcode
from websockets.sync.client import connect as sync_connect

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


async def test_with_compression_each_socket_gets_the_message_through_its_own_send() -> None:
    """permessage-deflate: a frame cannot be shared, so the message takes the buffer and the
    forwarding task's ordinary (compressed) send."""
    ready = trio.Event()
    got: list[str] = []

    def client(url: str, token: trio.lowlevel.TrioToken) -> None:
        with sync_connect(url, compression="deflate", open_timeout=5) as ws:
            assert ws.response is not None
            assert "permessage-deflate" in (ws.response.headers.get("Sec-WebSocket-Extensions"))
            trio.from_thread.run_sync(ready.set, trio_token=token)
            got.append(str(ws.recv(timeout=10)))

    with trio.fail_after(20):
        async with (
            Broadcast() as broadcast,
            serve_app(forwarding_app(broadcast)) as url,
            trio.open_nursery() as nursery,
        ):
            token = trio.lowlevel.current_trio_token()
            nursery.start_soon(partial(trio.to_thread.run_sync, client, url + "/", token))
            await ready.wait()
            await wait_until(lambda: len(subscribers(broadcast)) == 1)
            await broadcast.publish("room", "squeezed " * 20)
            (subscriber,) = subscribers(broadcast)
            assert subscriber.statistics().buffered == 1  # not written in passing
    assert got == ["squeezed " * 20]

"""Keepalive (pong timeout, measured latency) and message limits that hold after inflation."""

from __future__ import annotations

import tracemalloc
import zlib
from functools import partial
from typing import TYPE_CHECKING, Any

import trio
from websockets.sync.client import connect as sync_connect

from trio_ws import keepalive_latency
from trio_ws._engine._connection import FRAME_COST
from trio_ws.testing import serve_app

from ._raw import close_code, connect, frame, port_of, upgrade_request

if TYPE_CHECKING:
    from trio_ws._types import Receive, Scope, Send

_DEFLATE_OFFER = b"Sec-WebSocket-Extensions: permessage-deflate\r\n"


def _waiting_app(seen: list[Any], done: trio.Event) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] != "websocket.disconnect":
            seen.append(("latency", keepalive_latency(scope)))
            await send({"type": "websocket.send", "text": "ok"})
        seen.append(message)
        done.set()

    return app


async def test_a_peer_that_does_not_answer_pings_is_closed_1011_and_the_app_told() -> None:
    seen: list[Any] = []
    done = trio.Event()
    with trio.fail_after(10):
        async with (
            serve_app(_waiting_app(seen, done), ping_interval=0.2, ping_timeout=0.4) as url,
            await connect(port_of(url), upgrade_request()) as client,
        ):
            started = trio.current_time()
            await done.wait()  # the client never answers: only the pong timeout ends it
            elapsed = trio.current_time() - started
            frames = await client.frames_until_eof()
    assert seen[-1]["code"] == 1011
    assert seen[-1]["trio_ws.closed_by"] == "server"
    assert close_code(frames) == 1011
    assert 0.5 < elapsed < 3


def _answering_client(url: str) -> str:
    with sync_connect(url, open_timeout=5) as ws:  # websockets answers pings by itself
        deadline = 50
        reply = ""
        for _ in range(deadline):
            import time

            time.sleep(0.05)
            ws.send("tick")
            reply = str(ws.recv(timeout=5))
        return reply


async def test_an_answering_client_stays_and_its_latency_is_measured() -> None:
    seen: list[Any] = []
    done = trio.Event()
    with trio.fail_after(15):
        async with serve_app(_waiting_app(seen, done), ping_interval=0.2, ping_timeout=0.4) as url:
            reply = await trio.to_thread.run_sync(partial(_answering_client, url))
            await done.wait()
    assert reply == "ok"
    latencies = [value for kind, value in seen[:-1] if kind == "latency"]
    assert len(latencies) == 50
    assert any(isinstance(value, float) and 0 <= value < 1 for value in latencies)
    assert seen[-1]["code"] == 1000  # the client's own close, not a keepalive failure


def deflate_bomb(size: int) -> bytes:
    """A permessage-deflate payload that inflates to ``size`` zero bytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(2**20)
    parts = [compressor.compress(zeros) for _ in range(size // len(zeros))]
    parts.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    data = b"".join(parts)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


async def test_a_message_over_the_limit_after_inflation_is_1009() -> None:
    """A small compressed frame whose inflated size passes the limit is refused."""
    seen: list[Any] = []
    done = trio.Event()
    with trio.fail_after(15):
        async with (
            serve_app(_waiting_app(seen, done), max_message_size=4096) as url,
            await connect(port_of(url), upgrade_request(_DEFLATE_OFFER)) as client,
        ):
            compressed = deflate_bomb(2**20)
            assert len(compressed) < 4096
            await client.stream.send_all(frame(0x2, compressed, rsv=0b100))
            frames = await client.frames_until_eof()
            await done.wait()
    assert close_code(frames) == 1009


async def test_continuation_frames_after_a_1009_do_not_keep_the_connection() -> None:
    """After the 1009 the server stops inflating and ends the connection promptly."""
    seen: list[Any] = []
    done = trio.Event()
    chunk = deflate_bomb(2**20)
    with trio.fail_after(15):
        async with (
            serve_app(_waiting_app(seen, done), max_message_size=2**16) as url,
            await connect(port_of(url), upgrade_request(_DEFLATE_OFFER)) as client,
        ):
            await client.stream.send_all(frame(0x2, chunk, fin=False, rsv=0b100))
            started = trio.current_time()
            with trio.move_on_after(5):
                for _ in range(200):  # keep streaming until the server hangs up
                    try:
                        await client.stream.send_all(frame(0x0, chunk, fin=False))
                    except trio.BrokenResourceError:
                        break
            frames = await client.frames_until_eof()
            elapsed = trio.current_time() - started
            await done.wait()
    assert close_code(frames) == 1009
    assert elapsed < 3


async def test_many_bombs_in_one_read_are_inflated_one_at_a_time() -> None:
    """40 frames of ~1 KiB, each inflating to 1 MiB (allowed), sent at once: the server holds
    the application's current message and the one being inflated (plus zlib's output buffer),
    not 40 MiB (measured: 3.1 MiB; 41 MiB when a whole read is fed to the protocol at once)."""
    limit = 2**20 + 1024
    bomb = frame(0x2, deflate_bomb(2**20), rsv=0b100)
    sizes: list[int] = []
    all_in = trio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] != "websocket.disconnect":
            sizes.append(len(message["bytes"]))
            if len(sizes) == 40:
                all_in.set()

    with trio.fail_after(60):
        async with (
            serve_app(app, max_message_size=limit) as url,
            await connect(port_of(url), upgrade_request(_DEFLATE_OFFER)) as client,
        ):
            assert b"permessage-deflate" in client.head
            tracemalloc.start()
            try:
                tracemalloc.reset_peak()
                base = tracemalloc.get_traced_memory()[0]
                await client.stream.send_all(bomb * 40)
                await all_in.wait()
                peak = tracemalloc.get_traced_memory()[1] - base
            finally:
                tracemalloc.stop()
    assert sizes == [2**20] * 40
    assert peak < 2 * limit + 2 * 2**20, f"server memory grew by {peak / 2**20:.1f} MiB"


async def test_a_message_of_endless_empty_frames_is_closed_1009_with_bounded_memory() -> None:
    """A text message that never ends, made of empty continuation frames, never nears the
    byte limit; each frame also counts ``FRAME_COST`` bytes, so it is closed 1009 after
    ``max_message_size / FRAME_COST`` frames (1,024 here) and the server holds no chunk per
    frame (main grew by a chunk per frame, without end, and kept a core busy)."""
    limit = 2**16
    seen: list[Any] = []
    done = trio.Event()
    empty = frame(0x0, b"", fin=False)
    frames: list[Any] = []
    with trio.fail_after(20):
        async with (
            serve_app(_waiting_app(seen, done), max_message_size=limit) as url,
            await connect(port_of(url), upgrade_request()) as client,
        ):
            tracemalloc.start()
            try:
                tracemalloc.reset_peak()
                base = tracemalloc.get_traced_memory()[0]
                await client.stream.send_all(frame(0x1, b"a", fin=False))
                with trio.move_on_after(5):
                    for _ in range(200):  # up to 2 million frames, until the server hangs up
                        try:
                            await client.stream.send_all(empty * 10_000)
                        except trio.BrokenResourceError:
                            break
                with trio.move_on_after(5):
                    frames = await client.frames_until_eof()
                    await done.wait()
                peak = tracemalloc.get_traced_memory()[1] - base
            finally:
                tracemalloc.stop()
    assert close_code(frames) == 1009
    assert seen[-1]["code"] == 1009
    assert seen[-1]["trio_ws.closed_by"] == "server"
    assert limit // FRAME_COST == 1024
    assert peak < 3 * 2**20, f"server memory grew by {peak / 2**20:.1f} MiB"

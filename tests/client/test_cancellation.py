"""Requirement 3 over real sockets, against both servers, compression on and off: receives are
atomic under cancellation, a cancelled send never puts half a frame on the wire, and a
deadline around a receive is never held by a send stuck on a server that does not read."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
from typing import TYPE_CHECKING, Any

import pytest
import trio
from websockets.exceptions import ConnectionClosed

import trio_ws
from trio_ws.testing import serve_app

from ._servers import SERVER_KINDS, Seen, echo_server, websockets_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from websockets.asyncio.server import ServerConnection

pytestmark = [
    pytest.mark.parametrize("kind", SERVER_KINDS),
    pytest.mark.parametrize("compression", ["deflate", None]),
]

CHUNK = 256 * 1024


async def test_receive_under_move_on_after_loses_and_duplicates_nothing(
    kind: str, compression: str | None
) -> None:
    rng = random.Random(17)
    with trio.fail_after(20):
        async with (
            echo_server(kind) as (url, _),
            trio_ws.connect(url, compression=compression) as ws,  # type: ignore[arg-type]
        ):
            cancelled = 0
            for _ in range(40):
                # Each round waits for the server first, so deadlines land inside receives
                # that are reading the socket as well as on messages already parsed.
                await ws.send_text("burst 10")
                got: list[str] = []
                while len(got) < 10:
                    with trio.move_on_after(rng.choice([0, 0, 1e-5, 1e-4, 1e-3])) as scope:
                        got.append(await ws.receive_text())
                    cancelled += scope.cancelled_caught
                assert got == [str(i) for i in range(10)]
            assert cancelled > 0
            iterator = ws.iter_text()
            await ws.send_text("burst 50")
            more: list[str] = []
            while len(more) < 50:
                with trio.move_on_after(rng.choice([0, 1e-4])):
                    more.append(await anext(iterator))
            assert more == [str(i) for i in range(50)]


@contextlib.asynccontextmanager
async def stalled_server(
    kind: str, stuck: threading.Event, resume: threading.Event
) -> AsyncIterator[tuple[str, Seen]]:
    """A server that stops reading until ``resume``; once ``stuck`` is set it pings (websockets
    only; trio_ws applications cannot) and sends ``"hello"``. Then it reads everything and
    records ``("got", [messages], close code)`` and, for websockets, ``("pong", answered)``."""
    seen = Seen()
    if kind == "websockets":

        async def handler(ws: ServerConnection) -> None:
            loop = asyncio.get_running_loop()
            ws.transport.pause_reading()
            await loop.run_in_executor(None, stuck.wait, 10)
            pong = await ws.ping(b"are you there")
            await ws.send("hello")
            await loop.run_in_executor(None, resume.wait, 10)
            ws.transport.resume_reading()
            try:
                await asyncio.wait_for(pong, 5)
                seen.put(("pong", True))
            except (TimeoutError, ConnectionClosed):
                seen.put(("pong", False))
            got: list[Any] = []
            try:
                async for message in ws:
                    got.append(message)
            except ConnectionClosed:
                pass
            seen.put(("got", got, ws.close_code or 1006))

        with websockets_server(handler, max_size=None, max_queue=None) as url:
            yield url, seen
        return

    @trio_ws.websocket_app
    async def app(ws: trio_ws.WebSocket) -> None:
        await ws.accept()
        await trio.to_thread.run_sync(stuck.wait, 10)
        await ws.send_text("hello")
        await trio.to_thread.run_sync(resume.wait, 10)
        got: list[Any] = []
        try:
            while True:
                got.append(await ws.receive_message())
        except trio_ws.WebSocketDisconnect:
            pass
        seen.put(("got", got, ws.close_code))

    async with serve_app(app, max_message_size=2 * CHUNK) as url:
        yield url, seen


async def _record(seen: Seen, tag: str) -> Any:
    while True:
        item = await seen.get()
        if item[0] == tag:
            return item


async def test_a_cancelled_send_never_leaves_half_a_frame(
    kind: str, compression: str | None
) -> None:
    stuck, resume = threading.Event(), threading.Event()
    stuck.set()
    with trio.fail_after(30):
        async with stalled_server(kind, stuck, resume) as (url, seen):
            async with trio_ws.connect(url, compression=compression, max_message_size=None) as ws:  # type: ignore[arg-type]
                completed: list[bytes] = []
                with trio.move_on_after(0.5) as scope:
                    for i in range(64):  # 16 MiB: more than the socket buffers hold
                        payload = i.to_bytes(4, "big") + os.urandom(CHUNK)
                        await ws.send_bytes(payload)
                        completed.append(payload)
                assert scope.cancelled_caught, "the server did not stall the client"
                resume.set()
                aborted = False
                try:
                    await ws.send_bytes(b"after")
                    completed.append(b"after")
                except trio_ws.WebSocketDisconnect as exc:
                    aborted = True  # the send was cancelled with part of its frame written
                    code_after_abort = exc.code
            _, got, code = await _record(seen, "got")
            # Whole messages only, in order: exactly those whose send returned.
            assert [bytes(m) for m in got if m != "hello"] == completed
            assert code == (1006 if aborted else 1000)
            if aborted:
                assert code_after_abort == 1006


async def test_a_receive_deadline_is_not_held_by_a_stuck_send(
    kind: str, compression: str | None
) -> None:
    stuck, resume = threading.Event(), threading.Event()
    with trio.fail_after(30):
        async with stalled_server(kind, stuck, resume) as (url, seen):
            async with trio_ws.connect(url, compression=compression, max_message_size=None) as ws:  # type: ignore[arg-type]
                sent = 0

                async def flood() -> None:
                    nonlocal sent
                    for i in range(64):
                        await ws.send_bytes(i.to_bytes(4, "big") + os.urandom(CHUNK))
                        sent += 1

                ws.start_soon(flood)
                # The first send is in flight (it holds the send turn) before the server acts.
                await trio.testing.wait_all_tasks_blocked()
                stuck.set()
                with trio.fail_after(5):
                    # A ping (answered by a deferred pong) and "hello" arrive while the flood
                    # holds the send turn on a server that reads nothing.
                    assert await ws.receive_text() == "hello"
                assert sent < 64, "the flood was not stuck"
                with trio.move_on_after(0.2) as scope:
                    await ws.receive_text()  # nothing more comes: the deadline must win
                assert scope.cancelled_caught
                resume.set()
                if kind == "websockets":
                    # The flood's frame went out, then the deferred pong.
                    assert (await _record(seen, "pong"))[1] is True
            _, got, code = await _record(seen, "got")
            assert code in (1000, 1006)
            assert all(len(m) == CHUNK + 4 for m in got)

"""Servers the client tests talk to: `trio_ws.serve` (ours) and websockets' asyncio server (not
ours), each on 127.0.0.1 port 0, each recording what it saw in a thread-safe queue."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import shutil
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import trio
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as asyncio_serve
from websockets.exceptions import ConnectionClosed

import trio_ws
from tests.engine._raw import self_signed_cert as _self_signed
from trio_ws.testing import serve_app

if TYPE_CHECKING:
    import ssl
    from pathlib import Path

Handler = Callable[[ServerConnection], Awaitable[None]]

#: The two servers every client behaviour is checked against.
SERVER_KINDS = ["trio_ws", "websockets"]


class Seen:
    """What a server saw, put from its own thread or task, read by the test."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()

    def put(self, item: Any) -> None:
        self._queue.put(item)

    async def get(self, wait: float = 10.0) -> Any:
        """The next item (waits in a worker thread, at most ``wait`` seconds).

        Raises:
          queue.Empty: nothing came in time.
        """
        return await trio.to_thread.run_sync(lambda: self._queue.get(timeout=wait))

    def empty(self) -> bool:
        return self._queue.empty()


@contextlib.contextmanager
def websockets_server(
    handler: Handler, *, ssl_context: ssl.SSLContext | None = None, **kwargs: Any
) -> Iterator[str]:
    """websockets' asyncio server in a thread; yields its ``ws://127.0.0.1:PORT`` URL."""
    kwargs.setdefault("close_timeout", 1.0)  # a stalled handler must not hold the shutdown
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        server = await asyncio_serve(handler, "127.0.0.1", 0, ssl=ssl_context, **kwargs)
        holder["server"] = server
        holder["port"] = server.sockets[0].getsockname()[1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        finally:
            ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="websockets asyncio server", daemon=True)
    thread.start()
    ready.wait(10)
    try:
        scheme = "wss" if ssl_context is not None else "ws"
        yield f"{scheme}://127.0.0.1:{holder['port']}"
    finally:

        async def stop() -> None:
            server = holder["server"]
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def websockets_echo(seen: Seen) -> Handler:
    """An echo handler that closes with ``code reason`` when told ``close code reason``, sends
    ``0``..``N-1`` when told ``burst N``, and
    records the request headers, then how the connection ended: ``("closed", code, reason)``."""

    async def handler(ws: ServerConnection) -> None:
        seen.put(("headers", dict(ws.request.headers.raw_items()) if ws.request else {}))
        try:
            async for message in ws:
                if isinstance(message, str) and message.startswith("close "):
                    _, number, reason = message.split(" ", 2)
                    await ws.close(int(number), reason)
                    break
                if isinstance(message, str) and message.startswith("burst "):
                    for i in range(int(message.split()[1])):
                        await ws.send(str(i))
                    continue
                await ws.send(message)
        except ConnectionClosed:
            pass
        await ws.wait_closed()
        code = ws.close_code
        seen.put(("closed", 1006 if code is None else code, ws.close_reason or ""))

    return handler


def trio_ws_echo(seen: Seen) -> trio_ws.WebSocketApp:
    """The same echo on trio_ws.serve."""

    @trio_ws.websocket_app
    async def echo(ws: trio_ws.WebSocket) -> None:
        seen.put(("headers", dict(ws.headers.items())))
        offered = ws.scope["subprotocols"]
        await ws.accept(subprotocol=offered[0] if offered else None)
        try:
            while True:
                message = await ws.receive_message()
                if isinstance(message, str) and message.startswith("close "):
                    _, number, reason = message.split(" ", 2)
                    await ws.close(int(number), reason)
                    break
                if isinstance(message, str) and message.startswith("burst "):
                    for i in range(int(message.split()[1])):
                        await ws.send_text(str(i))
                    continue
                if isinstance(message, str):
                    await ws.send_text(message)
                else:
                    await ws.send_bytes(message)
        except trio_ws.WebSocketDisconnect:
            pass
        seen.put(("closed", ws.close_code, ws.close_reason or ""))

    return echo


@contextlib.asynccontextmanager
async def echo_server(kind: str) -> AsyncIterator[tuple[str, Seen]]:
    """An echo server of ``kind`` (see `SERVER_KINDS`): yields its URL and what it saw."""
    seen = Seen()
    if kind == "trio_ws":
        async with serve_app(trio_ws_echo(seen)) as url:
            yield url, seen
    else:
        with websockets_server(websockets_echo(seen), select_subprotocol=_first) as url:
            yield url, seen


def _first(connection: ServerConnection, subprotocols: Any) -> Any:
    return subprotocols[0] if subprotocols else None


async def closed(seen: Seen) -> tuple[int, str]:
    """The ``("closed", code, reason)`` record, skipping anything before it."""
    while True:
        item = await seen.get()
        if item[0] == "closed":
            return item[1], item[2]


def self_signed(directory: Path) -> tuple[str, str] | None:
    """A certificate for 127.0.0.1 and its key (``None`` without openssl)."""
    if shutil.which("openssl") is None:
        return None
    return _self_signed(directory)

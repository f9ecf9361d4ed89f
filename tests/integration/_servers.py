"""One way to run a contract test on every server: the in-memory client (ASGI 2.3, 2.4, 2.5),
plain hypercorn (trio worker) and ``trio_ws.serve``, with a real client for the real ones.

``served(kind, app)`` yields ``open_client(path)``; every client has the same three calls
(``send_text``, ``receive_text``, ``close``) and reports the server's close as
:class:`Closed`. The application is wrapped in a :class:`Recorder` that keeps, per request
path, what the application raised and when it finished, so tests can compare what reached
the server without depending on how each server logs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal, Protocol

import trio
import trio_websocket

from trio_ws.testing import ConnectionClosed, connect, serve_app

from ._plain_hypercorn import CLIENT, PlainHypercorn

Kind = Literal["memory-2.3", "memory-2.4", "memory-2.5", "hypercorn", "trio_ws.serve"]
KINDS: list[Kind] = ["memory-2.3", "memory-2.4", "memory-2.5", "hypercorn", "trio_ws.serve"]


class Closed(Exception):
    """The server closed the connection with ``code`` and ``reason``."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class Client(Protocol):
    async def send_text(self, text: str) -> None: ...
    async def receive_text(self) -> str: ...
    async def close(self, code: int = 1000) -> None: ...


OpenClient = Callable[[str], AbstractAsyncContextManager[Client]]


class Recorder:
    """Wraps an ASGI app; records per path what it raised and when it finished."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.errors: dict[str, BaseException] = {}
        self._finished: dict[str, trio.Event] = {}

    def _event(self, path: str) -> trio.Event:
        return self._finished.setdefault(path, trio.Event())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        try:
            await self.app(scope, receive, send)
        except Exception as exc:  # recorded, not re-raised: servers differ only in logging
            self.errors[path] = exc
        finally:
            self._event(path).set()

    async def finished(self, path: str) -> BaseException | None:
        """Wait until the connection at ``path`` has finished; what it raised, if anything."""
        await self._event(path).wait()
        return self.errors.get(path)


class _MemoryClient:
    def __init__(self, client: Any) -> None:
        self._client = client

    async def send_text(self, text: str) -> None:
        await self._client.send_text(text)

    async def receive_text(self) -> str:
        try:
            text: str = await self._client.receive_text()
        except ConnectionClosed as exc:
            raise Closed(exc.code, exc.reason) from None
        return text

    async def close(self, code: int = 1000) -> None:
        await self._client.close(code)


class _RealClient:
    def __init__(self, connection: trio_websocket.WebSocketConnection) -> None:
        self._connection = connection

    async def send_text(self, text: str) -> None:
        await self._connection.send_message(text)

    async def receive_text(self) -> str:
        try:
            message = await self._connection.get_message()
        except trio_websocket.ConnectionClosed as exc:
            raise Closed(exc.reason.code, exc.reason.reason or "") from None
        assert isinstance(message, str)
        return message

    async def close(self, code: int = 1000) -> None:
        await self._connection.aclose(code)


@asynccontextmanager
async def served(
    kind: Kind, app: Recorder, plain_hypercorn: PlainHypercorn
) -> AsyncIterator[OpenClient]:
    """Serve ``app`` on ``kind``; yield ``open_client(path)``."""
    if kind.startswith("memory-"):
        spec: Any = kind.removeprefix("memory-")

        @asynccontextmanager
        async def open_memory(path: str) -> AsyncIterator[Client]:
            async with connect(app, path, spec_version=spec, raise_app_exceptions=False) as c:
                yield _MemoryClient(c)

        yield open_memory
        return

    server = plain_hypercorn(app) if kind == "hypercorn" else serve_app(app)
    async with server as url:

        @asynccontextmanager
        async def open_real(path: str) -> AsyncIterator[Client]:
            async with trio_websocket.open_websocket_url(url + path, **CLIENT) as connection:
                yield _RealClient(connection)

        yield open_real

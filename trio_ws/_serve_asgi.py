"""The ASGI side of `trio_ws.serve` that hypercorn calls, and the server's shutdown registry.

`ServedApp` is the "app wrapper" hypercorn calls for every scope it serves (HTTP and lifespan;
websockets never reach hypercorn's streams, see `trio_ws._serve_hypercorn`). It adds one thing:
hypercorn's trio worker crashes at start-up when an application returns silently from the
``lifespan`` scope, so the wrapper finishes the lifespan exchange on the application's behalf.

`ShutdownRegistry` holds the open websockets of one server and closes them all when graceful
shutdown starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import trio

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._types import ASGIApp, Receive, Scope, Send
    from ._types import Message as ASGIMessage

__all__ = ["Closable", "ServedApp", "ShutdownRegistry"]


class Closable(Protocol):
    """A websocket the registry can close for shutdown (an engine connection)."""

    async def close_for_shutdown(self) -> None: ...


class ShutdownRegistry:
    """The open websocket sessions of one server, and the switch that closes them all."""

    def __init__(self, close_code: int, grace_period: float) -> None:
        self.close_code = close_code
        self.grace_period = grace_period
        #: Set when graceful shutdown starts.
        self.event = trio.Event()
        self._sessions: set[Closable] = set()
        self._nursery: trio.Nursery | None = None

    def begin(self, nursery: trio.Nursery) -> None:
        """Start closing every open websocket, each in its own task in ``nursery``."""
        self._nursery = nursery
        self.event.set()
        for session in list(self._sessions):
            nursery.start_soon(session.close_for_shutdown)

    def add(self, session: Closable) -> None:
        self._sessions.add(session)
        if self._nursery is not None:
            self._nursery.start_soon(session.close_for_shutdown)

    def discard(self, session: Closable) -> None:
        self._sessions.discard(session)

    def __len__(self) -> int:
        return len(self._sessions)


class ServedApp:
    """The hypercorn app wrapper used by `trio_ws.serve` (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self,
        scope: Any,  # hypercorn's TypedDicts, used here as plain ASGI mappings
        receive: Any,
        send: Any,
        sync_spawn: Callable[..., Any],
        call_soon: Callable[..., Any],
    ) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        received: set[str] = set()
        sent: set[str] = set()

        async def app_receive() -> ASGIMessage:
            message = await receive()
            received.add(message["type"])
            return message

        async def app_send(message: ASGIMessage) -> None:
            sent.add(message["type"])
            await send(message)

        await self.app(scope, app_receive, app_send)
        # The app returned without raising. hypercorn only copes with raising, so finish the
        # exchange ourselves from wherever the app left it.
        if sent & {
            "lifespan.startup.failed",
            "lifespan.shutdown.complete",
            "lifespan.shutdown.failed",
        }:
            return
        if "lifespan.startup.complete" not in sent:
            if "lifespan.startup" not in received:
                await receive()
            await send({"type": "lifespan.startup.complete"})
        if "lifespan.shutdown" not in received:
            await receive()
        await send({"type": "lifespan.shutdown.complete"})

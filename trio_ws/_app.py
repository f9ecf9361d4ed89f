"""``websocket_app``: turn ``async def handler(ws)`` into a complete ASGI application."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ._exceptions import RemoteProtocolError
from ._options import ConnectionOptions
from ._responses import PlainTextResponse
from ._websocket import WebSocket

if TYPE_CHECKING:
    from ._types import ASGIApp, Receive, Scope, Send

__all__ = ["Handler", "serve_lifespan", "websocket_app"]

#: What ``websocket_app`` wraps: a coroutine function that gets the connection.
Handler = Callable[[WebSocket], Awaitable[object]]


async def serve_lifespan(receive: Receive, send: Send) -> None:
    """Answer the ASGI lifespan protocol: acknowledge startup, then shutdown, then return.

    hypercorn's trio worker crashes at start-up when an application returns silently on the
    lifespan scope, so every trio_ws application answers it.

    Raises:
      RemoteProtocolError: the server sent a message the lifespan protocol does not have.

    Cancellation:
      Safe to cancel; it only waits for the server's next message.
    """
    while True:
        message = await receive()
        kind = message.get("type")
        if kind == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif kind == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
        else:
            raise RemoteProtocolError(f"unexpected lifespan message {kind!r}")


def websocket_app(
    handler: Handler, *, options: ConnectionOptions | None = None, **option_values: Any
) -> ASGIApp:
    """Make an ASGI application that runs ``handler(ws)`` for every WebSocket connection.

    Each connection gets a :class:`WebSocket` in structured mode: the handler runs inside
    ``async with ws:``, so it has a receive pump, ``ws.nursery``, disconnect detection and
    the close-on-exit rules (1000 on return, the code of a ``WebSocketException``, 1011 on
    an error, ``shutdown_code`` when the server cancels it). The handler must call
    ``await ws.accept()``; returning without accepting denies the connection (HTTP 403).

    The application also answers the lifespan protocol, and a plain HTTP request with
    ``426 Upgrade Required``.

    Args:
      handler: ``async def handler(ws: WebSocket) -> None``.
      options: a :class:`ConnectionOptions`, or give its fields as keywords
        (``websocket_app(handler, overflow="drop_oldest")``), not both.

    Raises:
      TypeError, ValueError: invalid options (when the app is made, not per connection).

    An exception from the handler propagates to the server (which logs it) after the close.
    """
    if options is not None and option_values:
        raise TypeError("pass either options=ConnectionOptions(...) or keywords, not both")
    connection_options = options if options is not None else ConnectionOptions(**option_values)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "websocket":
            async with WebSocket(scope, receive, send, options=connection_options) as ws:
                await handler(ws)
        elif kind == "lifespan":
            await serve_lifespan(receive, send)
        elif kind == "http":
            response = PlainTextResponse(
                "This endpoint speaks WebSocket only.\n",
                status_code=426,
                headers={"upgrade": "websocket", "connection": "upgrade"},
            )
            await response(scope, receive, send)
        else:
            raise ValueError(f"unsupported ASGI scope type {kind!r}")

    app.__name__ = getattr(handler, "__name__", "websocket_app")
    app.__qualname__ = getattr(handler, "__qualname__", app.__name__)
    app.__doc__ = getattr(handler, "__doc__", None)
    return app

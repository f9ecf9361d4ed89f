"""``websocket_app``: turn ``async def handler(ws)`` into an ASGI application object.

`WebSocketApp` is an ASGI 3 application *object* (not a function), so Starlette's
``WebSocketRoute`` and ``Mount`` and FastAPI's ``add_websocket_route`` run it as an ASGI app
and put the router's path parameters in ``ws.path_params``. For each connection it:

1. runs the handshake guards (`trio_ws._guards`) and refuses with an HTTP response when
   one says no, before any handler code runs;
2. wraps the ASGI callables with the limits (`trio_ws._limits`);
3. runs ``handler(ws)`` inside ``async with ws:`` (structured mode), bounded by
   ``accept_timeout`` until the handler accepts or refuses.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, final

import trio

from ._exceptions import RemoteProtocolError, WebSocketException
from ._guards import Guards
from ._limits import HandshakeWatch, LimitedReceive, Limits
from ._options import ConnectionOptions
from ._protocol import DENIAL_EXTENSION
from ._refusal import note_refusal
from ._responses import PlainTextResponse
from ._trio_check import explain_asyncio_error, require_trio
from ._websocket import WebSocket

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._guards import Authenticate, OriginRule
    from ._limits import RateLimit
    from ._types import ASGIApp, Receive, Scope, Send

__all__ = [
    "AppSettings",
    "Handler",
    "WebSocketApp",
    "check_handler",
    "refuse",
    "run_connection",
    "serve_lifespan",
    "websocket_app",
]

#: What ``websocket_app`` wraps: a coroutine function that gets the connection.
Handler = Callable[[WebSocket], Awaitable[object]]

#: The close code used to refuse a handshake where the server has no denial extension; servers
#: answer a close before accept with HTTP 403 whatever the code.
_REFUSAL_CLOSE_CODE = 1008

#: The handler's scope when no deadline or timeout needs one (reusable: it holds no state).
_NO_SCOPE: contextlib.nullcontext[None] = contextlib.nullcontext()


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
            try:
                require_trio("trio_ws")
            except RuntimeError as error:  # an asyncio server: fail its startup, clearly
                await send({"type": "lifespan.startup.failed", "message": str(error)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif kind == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
        else:
            raise RemoteProtocolError(f"unexpected lifespan message {kind!r}")


async def answer_plain_http(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer an HTTP request to a WebSocket-only endpoint with ``426 Upgrade Required``."""
    response = PlainTextResponse(
        "This endpoint speaks WebSocket only.\n",
        status_code=426,
        headers={"upgrade": "websocket", "connection": "upgrade"},
    )
    await response(scope, receive, send)


def check_handler(handler: object, what: str = "handler") -> None:
    """Check that ``handler`` is an ``async def`` callable taking one argument (the WebSocket).

    Raises:
      TypeError: it is not callable, not a coroutine function, or cannot be called with
        exactly one positional argument. The message says which.
    """
    if not callable(handler):
        raise TypeError(f"{what} must be an async function, not {type(handler).__name__}")
    if inspect.isclass(handler):
        raise TypeError(
            f"{what} must be an async function, not the class {handler.__qualname__} "
            "(a WebSocketEndpoint subclass is an ASGI app itself: route or serve it directly)"
        )
    is_async = inspect.iscoroutinefunction(handler) or (
        not inspect.isroutine(handler)
        and inspect.iscoroutinefunction(getattr(handler, "__call__", None))  # noqa: B004
    )
    if not is_async:
        name = getattr(handler, "__qualname__", repr(handler))
        raise TypeError(
            f"{what} {name} must be an async function (`async def {what}(ws): ...`); "
            "a plain function would fail on every connection"
        )
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):  # some builtins and C callables have none
        return
    try:
        signature.bind(object())
    except TypeError:
        name = getattr(handler, "__qualname__", repr(handler))
        raise TypeError(
            f"{what} {name}{signature} must take exactly one positional argument, the WebSocket"
        ) from None


async def refuse(ws: WebSocket, response: ASGIApp) -> None:
    """Refuse the handshake with ``response``, or with a close (HTTP 403) when the server has
    no denial extension.

    Cancellation:
      As `WebSocket.send_denial_response`; the fallback close is shielded.
    """
    if DENIAL_EXTENSION in (ws.scope.get("extensions") or {}):
        await ws.send_denial_response(response)
    else:
        await ws.close(_REFUSAL_CLOSE_CODE)


def _timeout_refusal(scope: Scope, timeout: float | None) -> PlainTextResponse:
    note_refusal(scope, "limits", f"accept_timeout: no answer to the handshake within {timeout} s")
    return PlainTextResponse("The handshake timed out.\n", status_code=403)


class AppSettings:
    """What a trio_ws application applies to each connection: guards, limits and options.

    Raises (when made):
      TypeError, ValueError: an invalid option (see `Guards`, `Limits` and
        `ConnectionOptions`).
    """

    __slots__ = ("guards", "limits", "options")

    def __init__(
        self,
        *,
        allowed_origins: Iterable[OriginRule] | None = None,
        authenticate: Authenticate | None = None,
        subprotocols: Iterable[str | None] | None = None,
        max_message_size: int | None = None,
        rate_limit: RateLimit | None = None,
        accept_timeout: float | None = None,
        first_message_timeout: float | None = None,
        idle_timeout: float | None = None,
        options: ConnectionOptions | None = None,
        **option_values: Any,
    ) -> None:
        if options is not None and option_values:
            raise TypeError("pass either options=ConnectionOptions(...) or keywords, not both")
        self.options = options if options is not None else ConnectionOptions(**option_values)
        self.guards = Guards(allowed_origins, authenticate, subprotocols)
        self.limits = Limits(
            max_message_size=max_message_size,
            rate_limit=rate_limit,
            accept_timeout=accept_timeout,
            first_message_timeout=first_message_timeout,
            idle_timeout=idle_timeout,
        )


def run_connection(
    settings: AppSettings,
    handler: Callable[[WebSocket], Awaitable[object]],
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    authenticate: Authenticate | None = None,
) -> Coroutine[Any, Any, None]:
    """Run one WebSocket connection: guards, then ``handler(ws)`` in structured mode.

    A plain function that prepares the connection and returns the coroutine that serves it
    (``await run_connection(...)``). One coroutine layer stands between the caller and the
    handler, not two: every layer above the handler is resumed twice per message (when its
    receive wakes, and after its send's schedule point).

    ``authenticate``, when given, replaces the guards' own (the endpoint class passes its
    bound method).

    Raises (when awaited):
      Exception: whatever the handler (or ``authenticate``) raised, after the connection was
        closed with 1011 (or, before an answer to the handshake, left to the server's 500).

    Cancellation:
      Cancelled from outside (server shutdown), the connection closes with the shutdown code
      and the ``Cancelled`` propagates.
    """
    limits = settings.limits
    limited = LimitedReceive(receive, limits) if limits.on_receive else None
    subprotocol = settings.guards.subprotocol_for(scope)
    # The wrappers cost a call per message: they are only put in where an option needs them.
    watch: HandshakeWatch | None = None
    if limited is not None or limits.accept_timeout is not None or subprotocol is not None:
        watch = HandshakeWatch(send, limited=limited, subprotocol=subprotocol)
    ws = WebSocket(
        scope,
        receive if limited is None else limited,
        send if watch is None else watch,
        options=settings.options,
    )
    return _serve_connection(settings, handler, ws, watch, limited, authenticate)


async def _serve_connection(
    settings: AppSettings,
    handler: Callable[[WebSocket], Awaitable[object]],
    ws: WebSocket,
    watch: HandshakeWatch | None,
    limited: LimitedReceive | None,
    authenticate: Authenticate | None,
) -> None:
    """`run_connection`'s coroutine: the guards, then the handler in ``async with ws:``,
    bounded by ``accept_timeout`` and the receive timeouts when they are set. The handler is
    awaited right here (no wrapper coroutine of its own)."""
    guards, limits, scope = settings.guards, settings.limits, ws.scope
    deadline = math.inf
    if limits.accept_timeout is not None:
        deadline = trio.current_time() + limits.accept_timeout

    if guards.active or authenticate is not None:
        with trio.CancelScope(deadline=deadline) as guard_scope:
            refusal = await guards.check(ws, authenticate=authenticate)
        if guard_scope.cancelled_caught:
            refusal = _timeout_refusal(scope, limits.accept_timeout)
        if refusal is not None:
            await refuse(ws, refusal)
            return

    timeouts = limited is not None and limited.has_timeouts
    handler_scope: trio.CancelScope | None = None
    if watch is not None and (deadline != math.inf or timeouts):
        handler_scope = trio.CancelScope(deadline=deadline)
    try:
        async with ws:
            with _NO_SCOPE if handler_scope is None else handler_scope:
                if handler_scope is not None:
                    assert watch is not None
                    watch.scope = handler_scope
                    if timeouts:
                        assert limited is not None
                        ws.start_soon(
                            limited.watch_timeouts, handler_scope, name="trio_ws timeouts"
                        )
                try:
                    await handler(ws)
                except Exception as error:
                    # Noted for the server (its access log names it) before the block
                    # refuses the handshake, if the handler had not answered it.
                    note_refusal(
                        scope, "application", f"the handler failed before accepting: {error!r}"
                    )
                    raise
            if handler_scope is not None and handler_scope.cancelled_caught:
                assert watch is not None
                if not watch.answered:
                    await refuse(ws, _timeout_refusal(scope, limits.accept_timeout))
                elif limited is not None and limited.expired is not None:
                    raise WebSocketException(*limited.expired)
                # Otherwise the accept deadline passed at the very moment the handler accepted:
                # it was cut short, and the block closes the connection normally.
    except Exception as error:
        explain_asyncio_error(error)  # asyncio code in the handler or its tasks: say so
        raise


@final
class WebSocketApp:
    """An ASGI application that runs ``handler(ws)`` for every WebSocket connection.

    Made by `websocket_app`; see there for the options. Besides WebSocket connections it
    answers the ASGI lifespan protocol, and plain HTTP requests with ``426 Upgrade Required``.

    Attributes:
      handler: the wrapped handler.
      guards, limits, options: the validated settings.
      __name__: the handler's name, so that Starlette's ``WebSocketRoute`` names the route
        after it (``url_path_for("chat")`` for ``async def chat(ws)``).
    """

    def __init__(self, handler: Callable[[WebSocket], Awaitable[object]], **settings: Any) -> None:
        check_handler(handler)
        self.handler = handler
        self._settings = AppSettings(**settings)
        self.__name__ = getattr(handler, "__name__", type(self).__name__)
        self.__qualname__ = getattr(handler, "__qualname__", self.__name__)
        self.__doc__ = getattr(handler, "__doc__", None)

    @property
    def guards(self) -> Guards:
        """The handshake guards (origins, subprotocols, authenticate)."""
        return self._settings.guards

    @property
    def limits(self) -> Limits:
        """The limits and timeouts."""
        return self._settings.limits

    @property
    def options(self) -> ConnectionOptions:
        """The `ConnectionOptions` every connection gets."""
        return self._settings.options

    def __repr__(self) -> str:
        return f"<WebSocketApp {self.__qualname__}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection (``websocket``, ``lifespan`` or ``http`` scope).

        Raises:
          ValueError: another scope type.
          Exception: what the handler raised (see `run_connection`).

        Cancellation:
          Cancelled by the server (shutdown), the connection closes with the shutdown code
          and the ``Cancelled`` propagates.
        """
        kind = scope.get("type")
        if kind == "websocket":
            await run_connection(self._settings, self.handler, scope, receive, send)
        elif kind == "lifespan":
            await serve_lifespan(receive, send)
        elif kind == "http":
            await answer_plain_http(scope, receive, send)
        else:
            raise ValueError(f"unsupported ASGI scope type {kind!r}")


def websocket_app(
    handler: Callable[[WebSocket], Awaitable[object]],
    *,
    allowed_origins: Iterable[OriginRule] | None = None,
    authenticate: Authenticate | None = None,
    subprotocols: Iterable[str | None] | None = None,
    max_message_size: int | None = None,
    rate_limit: RateLimit | None = None,
    accept_timeout: float | None = None,
    first_message_timeout: float | None = None,
    idle_timeout: float | None = None,
    options: ConnectionOptions | None = None,
    **option_values: Any,
) -> WebSocketApp:
    """Make an ASGI application that runs ``handler(ws)`` for every WebSocket connection.

    Each connection gets a `WebSocket` in structured mode: the handler runs inside
    ``async with ws:``, so it has a receive pump, ``ws.nursery``, disconnect detection and
    the close-on-exit rules (1000 on return, the code of a ``WebSocketException``, 1011 on
    an error, ``shutdown_code`` when the server cancels it). The handler must call
    ``await ws.accept()``; returning without accepting denies the connection (HTTP 403).

    The result is an ASGI application object, usable on its own (``trio_ws.serve(app)``,
    hypercorn) and in Starlette's ``WebSocketRoute``/``Mount`` or FastAPI's
    ``add_websocket_route``.

    Handshake guards (run before the handler; a refusal is an HTTP response, 403 unless
    ``authenticate`` gives another, sent as a denial response or, where the server lacks the
    ``websocket.http.response`` extension, as a close that the server turns into 403):

    Args:
      handler: ``async def handler(ws: WebSocket) -> None``.
      allowed_origins: exact origins (``"https://example.com"``) and compiled regular
        expressions (matched against the whole header); ``None`` in the list allows a
        handshake without ``Origin``. Anything else, two ``Origin`` headers included, is
        refused. ``None`` (default): no check.
      authenticate: ``async def authenticate(ws) -> Response | None``, given the connection
        before accept; return ``None`` to let it in (after storing what it learned on
        ``ws.state``), or a response (401 with ``WWW-Authenticate``, 403, 429...) to refuse.
      subprotocols: the server's subprotocols in preference order. The first one the client
        offered is passed to ``accept()`` unless the handler names one; if the client
        offered none of them the handshake is refused, unless the list contains ``None``
        (then it is accepted without a subprotocol).

    Limits and timeouts (each closes with its code):

    Args:
      max_message_size: the largest message (bytes; text counted in UTF-8) the application
        takes; a bigger one closes with 1009. Keep the server's own limit above it.
      rate_limit: a `RateLimit`; over it the connection is closed with 1008, or the
        message dropped (``on_exceed="drop"``).
      accept_timeout: seconds within which the guards and the handler must accept or
        refuse; otherwise the handshake is refused with 403.
      first_message_timeout: seconds after the accept within which the client must send its
        first message; otherwise the handler is cancelled and the connection closed with 1008.
      idle_timeout: seconds without a message from the client after which the handler is
        cancelled and the connection closed with 1001.
      options: a `ConnectionOptions`, or give its fields as keywords
        (``websocket_app(handler, overflow="drop_oldest")``), not both.

    Raises:
      TypeError: ``handler`` is not an ``async def`` function taking one argument, or an
        option has the wrong type.
      ValueError: an invalid option value (when the app is made, not per connection).

    An exception from the handler propagates to the server (which logs it) after the close.
    """
    return WebSocketApp(
        handler,
        allowed_origins=allowed_origins,
        authenticate=authenticate,
        subprotocols=subprotocols,
        max_message_size=max_message_size,
        rate_limit=rate_limit,
        accept_timeout=accept_timeout,
        first_message_timeout=first_message_timeout,
        idle_timeout=idle_timeout,
        options=options,
        **option_values,
    )

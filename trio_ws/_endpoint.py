"""``WebSocketEndpoint``: Starlette's class-based endpoint, in structured mode.

Subclass it, set `encoding` and override the three hooks::

    class Chat(trio_ws.WebSocketEndpoint):
        encoding = "json"
        idle_timeout = 300

        async def on_receive(self, ws, data):
            await ws.send_json({"echo": data})

The class itself is the ASGI application: pass it to Starlette's ``WebSocketRoute`` or serve
it directly. Each connection makes an instance (``Chat(scope, receive, send)``) and awaits it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import trio

from ._app import AppSettings, answer_plain_http, run_connection, serve_lifespan
from ._exceptions import UnexpectedMessageType, WebSocketDisconnect, WebSocketException
from ._protocol import WebSocketState

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    from ._guards import OriginRule
    from ._limits import RateLimit
    from ._options import ConnectionOptions
    from ._responses import Response
    from ._types import Receive, Scope, Send
    from ._websocket import WebSocket

__all__ = ["WebSocketEndpoint"]

#: Close code for a message of the wrong kind for ``encoding`` (RFC 6455: unsupported data).
WRONG_ENCODING_CODE = 1003
#: Close code for a message that is not valid JSON (or not UTF-8) under ``encoding = "json"``.
INVALID_PAYLOAD_CODE = 1007

_ENCODINGS = (None, "text", "bytes", "json")


async def _receive_data(ws: WebSocket) -> str | bytes:
    """The next message's payload, text or binary (``WebSocketDisconnect`` at the end)."""
    try:
        return await ws.receive_text()
    except UnexpectedMessageType as binary:
        return binary.data


def _closed_by_app(ws: WebSocket) -> bool:
    return ws.application_state is WebSocketState.DISCONNECTED


class WebSocketEndpoint:
    """A class-based WebSocket endpoint with Starlette's names and meaning, in structured mode.

    Class attributes:
      encoding: how each message is decoded before `on_receive`: ``"text"`` (a binary
        message closes with 1003), ``"bytes"`` (a text message closes with 1003), ``"json"``
        (text or UTF-8 binary holding JSON; anything else closes with 1007), or ``None``
        (default): ``str`` or ``bytes`` as it arrived.
      allowed_origins, subprotocols, max_message_size, rate_limit, accept_timeout,
      first_message_timeout, idle_timeout, options: as the keywords of
        `trio_ws.websocket_app` (checked when the subclass is defined).

    Methods to override:
      authenticate(ws): the handshake guard of `trio_ws.websocket_app`, as a method;
        return ``None`` to let the connection in or a response to refuse it.
      on_connect(ws): accept (the default) or refuse the connection.
      on_receive(ws, data): handle one decoded message.
      on_disconnect(ws, close_code): the connection has ended with ``close_code``: the
        client's code when it left, the application's when it closed, 1003 or 1007 for a
        message that did not decode, the code of a ``WebSocketException``, 1011 after an
        error, a limit's or timeout's code, the shutdown code. Called after the close (only
        for accepted connections), shielded and bounded by ``options.close_timeout``.

    The hooks run inside ``async with ws:``, so ``ws.nursery`` and ``ws.start_soon`` are
    available, and the structured-mode rules close the connection: raising
    ``WebSocketException(code, reason)`` closes with that code, another exception closes
    with 1011 and propagates to the server.

    Raises (when a subclass is defined):
      TypeError, ValueError: an invalid class attribute.
    """

    encoding: ClassVar[Literal["text", "bytes", "json"] | None] = None
    allowed_origins: ClassVar[Iterable[OriginRule] | None] = None
    subprotocols: ClassVar[Iterable[str | None] | None] = None
    max_message_size: ClassVar[int | None] = None
    rate_limit: ClassVar[RateLimit | None] = None
    accept_timeout: ClassVar[float | None] = None
    first_message_timeout: ClassVar[float | None] = None
    idle_timeout: ClassVar[float | None] = None
    options: ClassVar[ConnectionOptions | None] = None

    _settings: ClassVar[AppSettings]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._settings = cls._make_settings()

    @classmethod
    def _make_settings(cls) -> AppSettings:
        if cls.encoding not in _ENCODINGS:
            raise ValueError(
                f'{cls.__qualname__}.encoding must be "text", "bytes", "json" or None, '
                f"not {cls.encoding!r}"
            )
        return AppSettings(
            allowed_origins=cls.allowed_origins,
            subprotocols=cls.subprotocols,
            max_message_size=cls.max_message_size,
            rate_limit=cls.rate_limit,
            accept_timeout=cls.accept_timeout,
            first_message_timeout=cls.first_message_timeout,
            idle_timeout=cls.idle_timeout,
            options=cls.options,
        )

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self._accepted: WebSocket | None = None

    def __await__(self) -> Generator[Any, None, None]:
        return self.dispatch().__await__()

    async def dispatch(self) -> None:
        """Serve the connection (or answer lifespan, or 426 to plain HTTP).

        Raises:
          ValueError: an ASGI scope type other than websocket, lifespan or http.
          Exception: what a hook raised, after the connection was closed with 1011 and
            ``on_disconnect`` was called.

        Cancellation:
          Cancelled by the server (shutdown), the hooks are cancelled, the connection closes
          with the shutdown code, ``on_disconnect`` runs (shielded) with that code, and the
          ``Cancelled`` propagates.
        """
        kind = self.scope.get("type")
        if kind == "websocket":
            overridden = type(self).authenticate is not WebSocketEndpoint.authenticate
            try:
                await run_connection(
                    self._settings,
                    self._run,
                    self.scope,
                    self.receive,
                    self.send,
                    authenticate=self.authenticate if overridden else None,
                )
            finally:
                if self._accepted is not None:
                    await self._report_end(self._accepted)
        elif kind == "lifespan":
            await serve_lifespan(self.receive, self.send)
        elif kind == "http":
            await answer_plain_http(self.scope, self.receive, self.send)
        else:
            raise ValueError(f"unsupported ASGI scope type {kind!r}")

    async def _run(self, ws: WebSocket) -> None:
        await self.on_connect(ws)
        if ws.application_state is not WebSocketState.CONNECTED:
            return  # on_connect refused (or closed) the connection
        self._accepted = ws
        while True:
            try:
                data = await self.decode(ws)
            except WebSocketDisconnect:
                return  # the client left
            await self.on_receive(ws, data)
            if _closed_by_app(ws):
                return  # on_receive closed the connection: nothing more will be read

    async def _report_end(self, ws: WebSocket) -> None:
        """Call ``on_disconnect`` with the code the connection ended with, shielded and
        bounded by ``close_timeout`` (it also runs when the server cancelled the handler)."""
        code = ws.close_code if ws.close_code is not None else 1000
        with trio.CancelScope(shield=True) as scope:
            scope.relative_deadline = ws.options.close_timeout
            await self.on_disconnect(ws, code)

    async def decode(self, ws: WebSocket) -> Any:
        """Receive the next message and decode it according to `encoding`.

        Raises:
          WebSocketDisconnect: the client left.
          WebSocketException: 1003 for a message of the wrong kind, 1007 for invalid JSON.

        Cancellation:
          Atomic, as ``ws.receive_*`` are: a cancelled call has taken no message.
        """
        encoding = self.encoding
        if encoding == "text":
            try:
                return await ws.receive_text()
            except UnexpectedMessageType:
                raise WebSocketException(
                    WRONG_ENCODING_CODE, "expected text messages, got binary"
                ) from None
        if encoding == "bytes":
            try:
                return await ws.receive_bytes()
            except UnexpectedMessageType:
                raise WebSocketException(
                    WRONG_ENCODING_CODE, "expected binary messages, got text"
                ) from None
        data = await _receive_data(ws)
        if encoding == "json":
            try:
                return json.loads(data)
            except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
                raise WebSocketException(INVALID_PAYLOAD_CODE, "invalid JSON") from None
        return data

    async def authenticate(self, ws: WebSocket) -> Response | None:
        """The handshake guard: ``None`` admits the connection, a response refuses it.

        Runs before `on_connect`, inside ``accept_timeout`` if one is set. An exception
        raised here reaches the server (HTTP 500); returning anything but ``None`` or an ASGI
        application raises ``TypeError``. Cancelled with the connection.
        """
        return None

    async def on_connect(self, ws: WebSocket) -> None:
        """Called before the first message; the default accepts the connection.

        Raise ``WebSocketException(code, reason)`` to close with that code; any other
        exception closes with 1011 and reaches the server. Cancelled (with the rest of the
        handler) when the server shuts down or ``accept_timeout`` passes before the accept.
        """
        await ws.accept()

    async def on_receive(self, ws: WebSocket, data: Any) -> None:
        """Called with each decoded message; the default does nothing.

        Exceptions follow `on_connect`'s rules; the client's own disconnect (from a
        send) ends the connection normally. Cancelled with the handler on shutdown.
        """

    async def on_disconnect(self, ws: WebSocket, close_code: int) -> None:
        """Called once the connection has ended, with its close code; the default does nothing.

        Runs shielded, bounded by ``options.close_timeout``: it is not cancelled by the
        shutdown that ended the connection, only cut short by that timeout. An exception
        raised here reaches the server.
        """


WebSocketEndpoint._settings = WebSocketEndpoint._make_settings()

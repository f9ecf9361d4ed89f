"""The ASGI side of `trio_ws.serve`: what sits between hypercorn and the application.

`ServedApp` is the "app wrapper" hypercorn calls for every scope. It adds three things to
whatever ASGI application it wraps:

* **Lifespan.** hypercorn's trio worker crashes at start-up when an application returns silently
  from the ``lifespan`` scope; the wrapper finishes the lifespan exchange on the application's
  behalf instead.
* **Guards for websocket messages that would crash hypercorn.** A malformed
  ``permessage-deflate`` offer is answered with HTTP 400 before the application runs; an accept
  naming a subprotocol the client did not offer is answered with 400 and raises
  `LocalProtocolError` into the application; accept headers hypercorn cannot send
  raise the same error without sending anything.
* **Per-connection state for shutdown and memory.** Each websocket gets a `_Session`
  that knows whether it is open, closes it with the shutdown close code when the server stops,
  replaces hypercorn's message buffer with `_BoundedMessageBuffer`, which stops
  storing a message the moment it goes over the size limit, and pings the client (instead of
  hypercorn's pinger) from one interval after the accept until the websocket closes.

The ``_serve*`` modules are the only ones that import hypercorn.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Final, Protocol

import h11
import trio
from hypercorn.protocol.ws_stream import FrameTooLargeError, WebsocketBuffer, WSStream
from wsproto.events import Message, Ping, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.handshake import server_extensions_handshake
from wsproto.utilities import split_comma_header

from ._exceptions import LocalProtocolError
from ._protocol import CANCEL_SAFE_SEND_EXTENSION, subprotocol_offered, validate_accept_headers
from ._serve_extension import SHUTDOWN_EXTENSION, ShutdownExtension

if TYPE_CHECKING:
    from collections.abc import Callable

    from hypercorn.config import Config

    from ._types import ASGIApp, Receive, Scope, Send
    from ._types import Message as ASGIMessage

__all__ = ["Closable", "ServedApp", "ShutdownRegistry"]

#: The ASGI message our buffer hands hypercorn for a message it refused; never reaches the app.
_DROPPED_KEY: Final = "trio_ws.dropped"


def _offers_are_valid(scope: Scope) -> bool:
    """Whether hypercorn can negotiate the ``Sec-WebSocket-Extensions`` offers without raising."""
    for name, value in scope.get("headers", ()):
        if name.lower() != b"sec-websocket-extensions":
            continue
        try:
            server_extensions_handshake(split_comma_header(value), [PerMessageDeflate()])
        except Exception:
            return False
    return True


def _check_accept_headers(message: ASGIMessage) -> None:
    """Raise LocalProtocolError for accept headers hypercorn would crash on."""
    try:
        validate_accept_headers(message.get("headers"))
    except (TypeError, ValueError) as exc:
        raise LocalProtocolError(f"accept headers cannot be set as given: {exc}") from None


class _BoundedMessageBuffer(WebsocketBuffer):
    """A drop-in for hypercorn's ``WebsocketBuffer`` that never stores more than the limit.

    hypercorn's own buffer keeps appending to a message after it went over
    ``websocket_max_message_size``, so a single huge frame is held in memory whole even though
    the client was told 1009. This one raises ``FrameTooLargeError`` once (hypercorn then sends
    1009), frees what it held and discards the rest of that message as it arrives. It counts
    UTF-8 bytes for text as well (hypercorn counts characters), so the limit means the same thing
    for both kinds, and it keeps text as a list of ``str`` chunks rather than a ``StringIO``
    (which stores four bytes per character). Peak memory for one message is therefore the
    limit for the chunks plus the limit again while they are joined.
    """

    def __init__(self, max_length: int) -> None:
        super().__init__(max_length)
        self._chunks: list[Any] = []
        self._text = False
        self._discarding = False
        #: Set once a message went over the limit on this connection.
        self.overflowed = False

    def extend(self, event: Message[Any]) -> None:
        if self._discarding:
            return
        data = event.data
        if isinstance(event, TextMessage):
            self._text = True
            self.length += len(data) if data.isascii() else len(data.encode("utf-8"))
        else:
            self.length += len(data)
        if self.length > self.max_length:
            self._chunks = []
            self._discarding = True
            self.overflowed = True
            raise FrameTooLargeError()
        self._chunks.append(data)

    def clear(self) -> None:
        self._chunks = []
        self._text = False
        self._discarding = False
        self.length = 0

    def to_message(self) -> dict[str, Any]:
        if self._discarding:
            return {"type": "websocket.receive", "bytes": None, "text": None, _DROPPED_KEY: True}
        if self._text:
            return {"type": "websocket.receive", "bytes": None, "text": "".join(self._chunks)}
        return {"type": "websocket.receive", "bytes": b"".join(self._chunks), "text": None}


class _State(enum.Enum):
    #: Waiting for the application to accept, deny or close.
    HANDSHAKE = enum.auto()
    #: Accepted, and neither side has closed yet as far as the wrapper knows.
    OPEN = enum.auto()
    #: The application closed, denied, or the disconnect was delivered to it.
    DONE = enum.auto()
    #: The server closed it for shutdown; the application's sends are now dropped.
    SERVER_CLOSED = enum.auto()


class Closable(Protocol):
    """A websocket the registry can close for shutdown (hypercorn's or the engine's)."""

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


class _Session:
    """The wrapper's view of one websocket: it wraps ``receive`` and ``send``."""

    def __init__(self, served: ServedApp, scope: Scope, receive: Receive, send: Send) -> None:
        self._registry = served.registry
        self._log = served.config.log
        self._ping_interval = served.ping_interval
        self._scope = scope
        self._receive = receive
        self._send = send
        self._state = _State.HANDSHAKE
        self._receive_scope: trio.CancelScope | None = None
        self._shutdown_reported = False
        self._buffer: _BoundedMessageBuffer | None = None
        self._stream: WSStream | None = None
        stream = getattr(send, "__self__", None)
        if isinstance(stream, WSStream):
            self._stream = stream
            self._buffer = _BoundedMessageBuffer(stream.buffer.max_length)
            stream.buffer = self._buffer

    async def receive(self) -> ASGIMessage:
        while True:
            if self._state is _State.SERVER_CLOSED and not self._shutdown_reported:
                return self._report_shutdown()
            with trio.CancelScope() as cancel_scope:
                self._receive_scope = cancel_scope
                try:
                    message = await self._receive()
                finally:
                    self._receive_scope = None
            if cancel_scope.cancelled_caught or message.get(_DROPPED_KEY):
                continue  # closed for shutdown (reported above), or a refused oversize message
            if message["type"] == "websocket.disconnect":
                if self._state is _State.SERVER_CLOSED and not self._shutdown_reported:
                    return self._report_shutdown()
                self._state = _State.DONE
                self._registry.discard(self)
                if self._buffer is not None and self._buffer.overflowed:
                    return {"type": "websocket.disconnect", "code": 1009}
            return message

    def _report_shutdown(self) -> ASGIMessage:
        self._shutdown_reported = True
        self._registry.discard(self)
        return {"type": "websocket.disconnect", "code": self._registry.close_code}

    async def send(self, message: ASGIMessage) -> None:
        kind = message.get("type")
        if self._state is _State.SERVER_CLOSED and kind in {"websocket.send", "websocket.close"}:
            return  # the server already closed this websocket, as after a client disconnect
        if kind == "websocket.accept" and self._state is _State.HANDSHAKE:
            await self._accept(message)
            return
        if kind in {"websocket.close", "websocket.http.response.start"}:
            self._state = _State.DONE
            self._registry.discard(self)
        await self._send(message)

    async def _accept(self, message: ASGIMessage) -> None:
        _check_accept_headers(message)
        subprotocol = message.get("subprotocol")
        if not subprotocol_offered(subprotocol, self._scope.get("subprotocols", ())):
            self._state = _State.DONE
            await self._log.warning(
                "trio_ws: the application accepted subprotocol %r, which the client %s did not "
                "offer; answered HTTP 400",
                subprotocol,
                self._scope.get("client"),
            )
            await self._send(
                {
                    "type": "websocket.http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                }
            )
            await self._send(
                {
                    "type": "websocket.http.response.body",
                    "body": b"Unsupported WebSocket subprotocol\n",
                }
            )
            raise LocalProtocolError(
                f"the application accepted subprotocol {subprotocol!r}, which the client did not "
                f"offer (offered: {list(self._scope.get('subprotocols', ()))!r}); the client was "
                "answered with HTTP 400"
            )
        try:
            await self._send(message)
        except h11.LocalProtocolError as error:
            # hypercorn already answered the request (e.g. 400 for bytes sent after the upgrade
            # request) and h11 refuses the 101; the reader fails next and ends the connection.
            self._state = _State.DONE
            raise OSError("the connection failed during the websocket handshake") from error
        self._state = _State.OPEN
        self._registry.add(self)
        if self._ping_interval and self._stream is not None:
            self._stream.task_group.spawn(self._ping, self._stream, self._ping_interval)

    async def _ping(self, stream: WSStream, interval: float) -> None:
        """Ping every ``interval`` seconds while the websocket is open.

        This replaces hypercorn's pinger, which pings at once on accept (trio-websocket 0.12.2
        clients crash when a ping arrives while they close) and then keeps a closed connection
        alive until its next tick. ``stream.context.sleep`` is trio_ws's per-connection sleep,
        which ends as soon as the connection stops reading.
        """
        while True:
            await stream.context.sleep(interval)
            if stream.closed or self._state is not _State.OPEN:
                return
            await stream._send_wsproto_event(Ping())

    async def close_for_shutdown(self) -> None:
        """Close this websocket with the shutdown code, if it is still open.

        The application's pending or next ``receive`` returns ``websocket.disconnect`` with the
        same code; its later sends are dropped. The close frame itself may stay stuck in
        hypercorn's shielded write if the client does not read: the server's deadline handles
        that by aborting the socket.
        """
        if self._state is not _State.OPEN:
            return
        self._state = _State.SERVER_CLOSED
        if self._receive_scope is not None:
            self._receive_scope.cancel()
        # hypercorn switches its own state to CLOSED synchronously at the start of this call,
        # before the application task can run again, so the app returning cannot race it to 1011.
        await self._send(
            {
                "type": "websocket.close",
                "code": self._registry.close_code,
                "reason": "server shutdown",
            }
        )


class ServedApp:
    """The hypercorn app wrapper used by `trio_ws.serve` (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        config: Config,
        registry: ShutdownRegistry,
        ping_interval: float | None,
    ) -> None:
        self.app = app
        self.config = config
        self.registry = registry
        #: Seconds between pings; hypercorn's own pinger must be off (``websocket_ping_interval``
        #: ``None`` in ``config``).
        self.ping_interval = ping_interval

    async def __call__(
        self,
        scope: Any,  # hypercorn's TypedDicts, used here as plain ASGI mappings
        receive: Any,
        send: Any,
        sync_spawn: Callable[..., Any],
        call_soon: Callable[..., Any],
    ) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _offers_are_valid(scope):
            await self.config.log.warning(
                "trio_ws: refused a websocket handshake from %s with malformed "
                "Sec-WebSocket-Extensions (HTTP 400)",
                scope.get("client"),
            )
            await receive()  # websocket.connect
            await send({"type": "websocket.http.response.start", "status": 400, "headers": []})
            await send({"type": "websocket.http.response.body", "body": b""})
            return
        scope = dict(scope)
        extensions = dict(scope.get("extensions") or {})
        shutdown: ShutdownExtension = {
            "close_code": self.registry.close_code,
            "event": self.registry.event,
            "grace_period": self.registry.grace_period,
        }
        extensions[SHUTDOWN_EXTENSION] = shutdown
        if scope.get("http_version") in ("1.0", "1.1"):
            # Over HTTP/1.1 the server's send is shielded from the send lock on (see
            # _ContainedTCPServer.protocol_send): safe to cancel, so trio_ws need not shield.
            extensions[CANCEL_SAFE_SEND_EXTENSION] = {}
        scope["extensions"] = extensions
        session = _Session(self, scope, receive, send)
        try:
            await self.app(scope, session.receive, session.send)
        finally:
            self.registry.discard(session)

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

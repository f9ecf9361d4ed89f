"""The server half of an in-memory connection: the ASGI ``receive``/``send`` the app is given.

`ServerEmulator` runs the application and wires it to the client with two trio memory
channels, so there are no threads and no sockets:

- **inbound** (client → app): bounded, ``queue_size`` slots (hypercorn: 10). It carries
  ``websocket.connect``, the client's messages and the final ``websocket.disconnect``. When it
  is full the client's sends block, as hypercorn's reader does (docs/hypercorn-facts.md, fact 3).
- **outbound** (app → client): unbounded. It carries the typed events of
  `trio_ws._server_exchange`, the server-side machine the engine of ``trio_ws.serve`` drives
  too; the app's ``send`` never blocks on a slow client.

Behaviours that depend on ``spec_version`` ("2.3" is hypercorn 0.18's):

====================================  =====================  ===========================
                                      "2.3"                  "2.4", "2.5"
====================================  =====================  ===========================
``websocket.receive`` shape           both ``bytes`` and     only the key that is set
                                      ``text``, one None
``websocket.disconnect``              ``code``               ``code`` (+ ``reason`` in 2.5)
app ``send`` once the client is gone  silently dropped       raises `OSError`
app ``receive`` after the disconnect  hangs forever          raises `AppProtocolError`
====================================  =====================  ===========================
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs
import trio

from .._exceptions import LocalProtocolError
from .._protocol import validate_close
from .._server_exchange import (
    Accepted,
    AppClosed,
    ClientGone,
    DataSent,
    InvalidAccept,
    Rejected,
    ServerExchange,
    ServerState,
)
from .._types import ASGIApp, Message, Scope
from ._exceptions import AppProtocolError, ConnectionClosed, ConnectionRejected

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._scope import SpecVersion

__all__ = [
    "HandshakeFailed",
    "OutboundItem",
    "ServerEmulator",
    "check_close_code",
    "check_close_reason",
]


def check_close_code(code: object) -> int:
    """Return ``code`` if the client may send it in a close frame (`validate_close`'s rule).

    Raises:
      ValueError: not an ``int``, or outside 1000-1003, 1007-1014 and 3000-4999.
    """
    try:
        validate_close(code, None)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    assert isinstance(code, int)
    return code


def check_close_reason(reason: object) -> str:
    """Return the reason as a ``str`` (``""`` for ``None``) if it fits in a close frame.

    Raises:
      ValueError: not ``str``/``None``, or longer than 123 bytes once UTF-8 encoded.
    """
    try:
        return validate_close(1000, reason)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


@attrs.frozen
class HandshakeFailed:
    """The app's accept was invalid: a real server would crash or drop the connection."""

    error: AppProtocolError


OutboundItem = Accepted | Rejected | DataSent | AppClosed | HandshakeFailed


@attrs.define(eq=False)
class ServerEmulator:
    """The emulated ASGI server for one in-memory WebSocket connection.

    Attributes:
      scope: the scope the app is called with.
      spec_version: which ASGI spec behaviours to emulate (see the module docstring).
      app_messages: every message the app passed to ``send`` (shallow copies, in order),
        including the ones the server refused or dropped.
      app_exception: what the app raised, if it raised.
      app_done: set once the app has returned, raised or been cancelled.
      close_code: ``None`` while open; then the code of the close, whichever side closed.
      close_reason: the reason of that close (``""`` when none).
      closed: set when ``close_code`` is; and every scope in ``cancel_on_close`` is cancelled
        then.
    """

    scope: Scope
    spec_version: SpecVersion
    queue_size: int
    exchange: ServerExchange
    app_messages: list[Message] = attrs.field(factory=list)
    app_exception: Exception | None = None
    app_done: trio.Event = attrs.field(factory=trio.Event)
    close_code: int | None = None
    close_reason: str = ""
    closed: trio.Event = attrs.field(factory=trio.Event)
    cancel_on_close: set[trio.CancelScope] = attrs.field(factory=set)
    _closed_by_client: bool = False
    _client_closing: tuple[int, str] | None = None  # (code, reason) while close() is queueing
    _disconnect_delivered: bool = False
    _echo_scheduled: bool = False
    _nursery: trio.Nursery | None = None
    _inbound_send: trio.MemorySendChannel[Message] = attrs.field(init=False)
    _inbound_receive: trio.MemoryReceiveChannel[Message] = attrs.field(init=False)
    _outbound_send: trio.MemorySendChannel[OutboundItem] = attrs.field(init=False)
    outbound: trio.MemoryReceiveChannel[OutboundItem] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        if self.queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {self.queue_size}")
        self._inbound_send, self._inbound_receive = trio.open_memory_channel[Message](
            self.queue_size
        )
        self._outbound_send, self.outbound = trio.open_memory_channel[OutboundItem](math.inf)
        self._inbound_send.send_nowait({"type": "websocket.connect"})

    # ----------------------------------------------------------------- the app's side

    def start(self, nursery: trio.Nursery, app: ASGIApp) -> None:
        """Start ``app`` in ``nursery``, which also runs the emulator's helper tasks.

        The nursery must be the connection's own: the emulator uses it only while it is open.
        """
        self._nursery = nursery
        nursery.start_soon(self._run_app, app, name=f"ASGI app {app!r}")

    async def _run_app(self, app: ASGIApp) -> None:
        # Never raises (except Cancelled): the app's exception is recorded for connect().
        try:
            await app(self.scope, self.receive, self.send)
        except Exception as exc:
            self.app_exception = exc
        finally:
            self._app_finished()

    def _app_finished(self) -> None:
        # No await here: this also runs while the app task is being cancelled.
        last = self.exchange.app_finished()
        if isinstance(last, AppClosed):
            self._record_close(last.code, last.reason)  # 1011, as hypercorn closes
        self._inbound_receive.close()  # wakes a client blocked on a full queue
        self._outbound_send.close()  # the client reads EndOfChannel after the last message
        self.app_done.set()

    async def receive(self) -> Message:
        """The ASGI ``receive`` callable given to the app.

        Cancellation: atomic, like hypercorn's (a memory channel receive).
        """
        if self._disconnect_delivered:
            if self.spec_version == "2.3":
                await trio.sleep_forever()  # hypercorn-facts.md, fact 2
            await trio.lowlevel.checkpoint()
            raise AppProtocolError("receive() called again after websocket.disconnect")
        message = await self._inbound_receive.receive()
        if message["type"] == "websocket.disconnect":
            # The client's close may still be resuming after queueing this: the connection
            # is closed from now on, whoever records it first.
            self._disconnect_delivered = True
            self.exchange.record_end(message["code"], message.get("reason", ""))
            if self._client_closing is not None:
                self._closed_by_client = True
                self._record_close(*self._client_closing)
        return message

    async def send(self, message: Message) -> None:
        """The ASGI ``send`` callable given to the app.

        Raises:
          AppProtocolError: the message is unknown, malformed or illegal now.
          OSError: the client is gone and the spec version is 2.4 or later.

        Cancellation: atomic: the checkpoint comes first, then the message is handled without
        blocking (the outbound channel is unbounded).
        """
        await trio.lowlevel.checkpoint()
        self.app_messages.append(dict(message) if isinstance(message, dict) else message)
        try:
            event = self.exchange.app_sends(message)
        except InvalidAccept as exc:
            error = AppProtocolError(f"{exc}; hypercorn 0.18 crashes on this")
            self._outbound_send.send_nowait(HandshakeFailed(error))
            raise error from None
        except ClientGone:
            if self.spec_version == "2.3":
                return  # hypercorn drops every message once the client is gone
            raise
        except LocalProtocolError as exc:
            raise AppProtocolError(str(exc)) from None
        if event is None:
            return
        if isinstance(event, AppClosed):
            self._record_close(event.code, event.reason)
            if self._client_closing is None:
                self._schedule_echo()
        self._outbound_send.send_nowait(event)

    def _schedule_echo(self) -> None:
        # The client answers the app's close at once; hypercorn then delivers code 1000.
        if not self._echo_scheduled:
            self._echo_scheduled = True
            self._spawn(self._put_quietly, self._disconnect_message(1000, ""))

    # ----------------------------------------------------------------- the client's side

    @property
    def closed_by_client(self) -> bool:
        """Whether the client has closed, dropped or abandoned the connection itself."""
        return self._closed_by_client

    def _disconnect_message(self, code: int, reason: str) -> Message:
        message: Message = {"type": "websocket.disconnect", "code": code}
        if self.spec_version == "2.5":
            message["reason"] = reason
        return message

    def _record_close(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self.closed.set()
            for scope in self.cancel_on_close:
                scope.cancel("trio_ws.testing: the connection ended")

    def closed_error(self) -> ConnectionClosed:
        """The exception for an operation on the closed (or closing) connection."""
        if self.close_code is not None:
            return ConnectionClosed(self.close_code, self.close_reason)
        if self._client_closing is not None:
            return ConnectionClosed(*self._client_closing)
        return ConnectionClosed(1006, "")  # pragma: no cover - the app ended, so 1011 is set

    async def client_send(self, data: str | bytes) -> None:
        """Queue one message from the client for the app (blocks while the queue is full).

        Raises:
          ConnectionClosed: the connection is closed, or the app ended while we waited.

        Cancellation: atomic (a memory channel send).
        """
        if self.close_code is not None or self._client_closing is not None:
            await trio.lowlevel.checkpoint()
            raise self.closed_error()  # nothing may follow the client's close frame
        message: Message = {"type": "websocket.receive"}
        if self.spec_version == "2.3":
            message["bytes"] = data if isinstance(data, bytes) else None
            message["text"] = data if isinstance(data, str) else None
        elif isinstance(data, bytes):
            message["bytes"] = data
        else:
            message["text"] = data
        try:
            await self._inbound_send.send(message)
        except trio.BrokenResourceError:
            raise self.closed_error() from None

    async def client_close(self, code: int, reason: str) -> None:
        """Deliver ``websocket.disconnect`` with the client's code; a no-op once closed.

        Cancellation: atomic: if cancelled while the queue is full, nothing was delivered and
        the connection is still open.
        """
        if self.close_code is not None or self._client_closing is not None:
            await trio.lowlevel.checkpoint()
            return
        self._client_closing = (code, reason)
        try:
            await self._inbound_send.send(self._disconnect_message(code, reason))
        except trio.BrokenResourceError:
            pass  # the app ended meanwhile; it recorded the close
        except BaseException:
            self._client_closing = None
            if self.exchange.state is ServerState.APP_CLOSED:
                self._schedule_echo()  # the app closed while we waited: answer it now
            raise
        self._closed_by_client = True
        self.exchange.record_end(code, reason)
        self._record_close(code, reason)

    def client_drop(self, code: int = 1006, reason: str = "") -> None:
        """End the connection from the client's side without waiting: the app gets
        ``websocket.disconnect`` with ``code`` (1006: the connection was lost)."""
        if self.close_code is not None:
            return
        self._closed_by_client = True
        self.exchange.record_end(code, reason)
        self._record_close(code, reason)
        if self._client_closing is None:
            self._spawn(self._put_quietly, self._disconnect_message(code, reason))

    def abandon(self) -> None:
        """The client vanished (the test body raised): sends are dropped, nothing is delivered."""
        self._closed_by_client = True
        self.exchange.record_end(1006, "")
        self._record_close(1006, "")

    async def _put_quietly(self, message: Message) -> None:
        try:
            await self._inbound_send.send(message)
        except trio.BrokenResourceError:
            pass  # the app already ended

    def _spawn(self, fn: Callable[[Message], Awaitable[None]], message: Message) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(fn, message)

    # ----------------------------------------------------------------- handshake

    async def wait_for_handshake(self) -> Accepted:
        """Wait for the app to answer ``websocket.connect``.

        Raises:
          ConnectionRejected: the app closed or denied, or ended without answering (500; the
            app's exception is the ``__cause__``).
          AppProtocolError: the app's accept was invalid (the server would have crashed).

        Cancellation: atomic for the channel; the app keeps running.
        """
        try:
            item = await self.outbound.receive()
        except trio.EndOfChannel:
            raise ConnectionRejected(500) from self.app_exception
        if isinstance(item, Accepted):
            return item
        if isinstance(item, Rejected):
            raise ConnectionRejected(item.status_code, item.headers, item.body)
        if isinstance(item, HandshakeFailed):
            raise item.error
        raise AssertionError(f"unexpected item before the handshake: {item!r}")  # pragma: no cover

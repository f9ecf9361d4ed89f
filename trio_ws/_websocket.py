"""``WebSocket``: Starlette's WebSocket API over an ASGI connection, on Trio.

The class talks to the ASGI ``receive``/``send`` callables directly and asks the sans-I/O
`Exchange` about every message. Used as an async context manager it
switches to *structured mode* (see `trio_ws._structured`): a per-connection nursery with a
receive pump that notices the client leaving even while the application only sends.

Guarantees that hold in both modes:

* **Receives are atomic under cancellation.** Nothing is awaited after a message is taken, so a
  ``trio.Cancelled`` means no message was consumed.
* **An ASGI send is never cancelled half-way.** It runs in a shielded scope; hypercorn frames
  (and compresses) a message before it waits for its socket lock, so a send cancelled there
  would silently corrupt a permessage-deflate stream (docs/hypercorn-facts.md, fact 5).
  Servers that declare the ``trio_ws.cancel_safe_send`` scope extension (``trio_ws.serve``,
  ``trio_ws.testing``) guarantee this themselves, and the shield is skipped.
* **Concurrent senders are serialised**, first come first served; each message goes out whole.
  **Concurrent receivers are a bug** and get `trio.BusyResourceError`.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, Unpack, final

import trio

from ._exceptions import InvalidJSONMessage, LocalProtocolError, WebSocketDisconnect
from ._link import Link, OneReader
from ._options import ConnectionOptions
from ._protocol import (
    SEND_FRAME_NOWAIT_EXTENSION,
    ClosedBy,
    Exchange,
    WebSocketState,
    check_mode,
    validate_close,
)
from ._scope_view import ScopeView
from ._structured import Structured

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Awaitable, Callable, Iterable
    from types import TracebackType

    from ._structured import PosArgs, WebSocketStatistics
    from ._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MessageIterator", "WebSocket"]

_DEFAULT_OPTIONS = ConnectionOptions()  # frozen, so one instance serves every connection

T = TypeVar("T")


#: What a connection says when it finds itself on asyncio rather than Trio.
NOT_ON_TRIO: Final = "trio_ws runs on Trio; start hypercorn with --worker-class trio"


def _require_trio() -> None:
    """Raise one clear sentence when a connection is made under asyncio instead of Trio.

    Raises:
      RuntimeError: an asyncio event loop is running in this thread and Trio is not.
    """
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        asyncio = sys.modules.get("asyncio")
        if asyncio is None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop at all: a WebSocket made for its request views only
        raise RuntimeError(NOT_ON_TRIO) from None


async def _no_receive() -> Message:
    raise RuntimeError("this WebSocket was created without a receive callable")


async def _no_send(message: Message) -> None:
    raise RuntimeError("this WebSocket was created without a send callable")


def _decode_json(raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise InvalidJSONMessage(raw, str(exc)) from exc


@final
class MessageIterator(Generic[T]):
    """The async iterator returned by ``iter_text()``, ``iter_bytes()`` and ``iter_json()``.

    Each step receives one message; the loop ends when the peer disconnects (the close code
    is then on ``websocket.close_code``). It is a plain object with ``__anext__``, not an
    async generator, so a cancelled step loses nothing and the iterator stays usable:
    ``with trio.move_on_after(t): await anext(it)`` is safe.
    """

    __slots__ = ("_done", "_receive_one")

    def __init__(self, receive_one: Callable[[], Awaitable[T]]) -> None:
        self._receive_one = receive_one
        self._done = False

    def __aiter__(self) -> MessageIterator[T]:
        return self

    async def __anext__(self) -> T:
        """Receive the next message.

        Raises:
          StopAsyncIteration: the peer disconnected (now or earlier).
          UnexpectedMessageType, InvalidJSONMessage: as the matching ``receive_*`` method;
            the iterator stays usable.

        Cancellation:
          Atomic: if this raises ``trio.Cancelled``, no message was consumed.
        """
        if self._done:
            await trio.lowlevel.checkpoint()
            raise StopAsyncIteration
        try:
            return await self._receive_one()
        except WebSocketDisconnect:
            self._done = True
            raise StopAsyncIteration from None


@final
class WebSocket(ScopeView):
    """One WebSocket connection, with Starlette's API.

    ``WebSocket(scope, receive, send)`` wraps the three ASGI arguments. Use it directly, as in
    Starlette, or as ``async with WebSocket(scope, receive, send) as ws:`` for structured mode
    (a per-connection nursery, disconnect detection for send-only handlers, close on exit).

    The object is also a read-only mapping over the scope (``websocket["path"]``) and has the
    request views ``url``, ``headers``, ``query_params``, ``path_params``, ``cookies``,
    ``client`` and ``state``.

    Concurrency: any number of tasks may send at once (messages go out whole, in the order the
    calls were made); only one task may receive at a time.

    Args:
      scope: the ASGI scope; its ``type`` must be ``"websocket"``.
      receive, send: the ASGI callables. They may be omitted for a WebSocket used only for
        its request views; using a missing one raises ``RuntimeError``.
      options: buffering, overflow and close settings (`trio_ws.ConnectionOptions`);
        the buffers and policies apply to structured mode, ``close_timeout`` to both.

    Raises:
      ValueError: the scope is not a websocket scope.
      RuntimeError: made with ``receive``/``send`` under asyncio (trio_ws runs on Trio; start
        hypercorn with ``--worker-class trio``).
    """

    def __init__(
        self,
        scope: Scope,
        receive: Receive | None = None,
        send: Send | None = None,
        *,
        options: ConnectionOptions | None = None,
    ) -> None:
        super().__init__(scope)
        if receive is not None or send is not None:
            _require_trio()
        self._exchange = exchange = Exchange(scope, self)
        self._options = options if options is not None else _DEFAULT_OPTIONS
        self._link = Link(
            exchange,
            receive if receive is not None else _no_receive,
            send if send is not None else _no_send,
            close_timeout=self._options.close_timeout,
        )
        self._reading = OneReader()
        self._structured: Structured | None = None

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.scope.get('path', '?')!r} "
            f"client={self.client_state.name} application={self.application_state.name}>"
        )

    # ------------------------------------------------------------------ state

    @property
    def client_state(self) -> WebSocketState:
        """What the server reported: CONNECTING, CONNECTED, or DISCONNECTED once the
        disconnect message has been received by the application.

        Assignable, as in Starlette (some code in the wild resets it): the exchange follows,
        and later messages are checked against the assigned state. Discouraged: it is how
        you lie to the protocol checks, and nothing is sent to the server.
        """
        return self._exchange.client_state

    @client_state.setter
    def client_state(self, state: WebSocketState) -> None:
        self._exchange.client_state = WebSocketState(getattr(state, "value", state))

    @property
    def application_state(self) -> WebSocketState:
        """What the application sent: CONNECTING, CONNECTED, RESPONSE (denial in progress)
        or DISCONNECTED (closed, or the denial response is complete).

        Assignable, as in Starlette; discouraged for the same reasons as
        `client_state`.
        """
        return self._exchange.application_state

    @application_state.setter
    def application_state(self, state: WebSocketState) -> None:
        self._exchange.application_state = WebSocketState(getattr(state, "value", state))

    @property
    def close_code(self) -> int | None:
        """The close code of the end of the connection, ``None`` while it is open.

        The client's code when it disconnected (hypercorn 0.18 always reports 1006 for a
        client close), the application's when it closed first, 1006 when the connection was
        lost, 1011 after an error in structured mode.
        """
        return self._exchange.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason that goes with `close_code` (``""`` if none was given)."""
        return self._exchange.close_reason

    @property
    def closed_by(self) -> ClosedBy | None:
        """Who ended the connection (`trio_ws.ClosedBy`), ``None`` while it is open."""
        return self._exchange.closed_by

    # ------------------------------------------------------------------ raw messages

    async def receive(self) -> Message:
        """Receive the next raw ASGI message, keeping the states right.

        Returns:
          The message dict: ``websocket.connect``, ``websocket.receive`` or
          ``websocket.disconnect`` (with ``code`` and a ``str`` ``reason``).

        Raises:
          WebSocketDisconnected: the disconnect message was already received.
          RemoteProtocolError: the server sent a message that is illegal at this point.
          trio.BusyResourceError: another task is receiving on this WebSocket.

        Cancellation:
          Atomic: if this raises ``trio.Cancelled``, no message was consumed (provided the
          server's ``receive`` is itself atomic, as hypercorn's and trio_ws.testing's are).
        """
        self._exchange.check_receive()
        with self._reading:
            message = await self._receive_data()
        return self._exchange.incoming(message)

    def _receive_data(self) -> Awaitable[Message]:
        """The next message as the server delivered it, for `receive`, ``receive_text`` and
        friends (which have run their checks, pass the message to the exchange's
        ``incoming`` and hold `_reading` around the await): the coroutine to await, with no
        layer of its own, so that a data receive is one coroutine layer over the server's
        receive in direct mode (two in structured mode, through `Structured.receive`)."""
        structured = self._structured
        if structured is not None:
            return structured.receive()
        return self._link.receive()

    async def send(self, message: Message) -> None:
        """Send a raw ASGI message, validating it and keeping the states right.

        Raises:
          WebSocketDisconnect: a ``websocket.send`` after the peer left, or the server's
            ``send`` raised ``OSError`` (ASGI 2.4); code 1006 in that case.
          WebSocketDisconnected: this side already sent a close or a complete response.
          LocalProtocolError: the message is illegal in the current state.
          TypeError, ValueError: the message's fields are invalid (close code and reason,
            subprotocol, headers, payload types). Nothing was sent.

        Cancellation:
          If this raises ``trio.Cancelled``, nothing was sent. Once the message is handed to
          the server the send runs shielded to completion, and a cancellation that arrives
          meanwhile is delivered at the caller's next checkpoint.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._structured is not None:
            await self._structured.wait_drained()  # keep call order behind queued messages
        await self._link.send_in_turn(message, self._outgoing)

    def _outgoing(self, message: Message, waited: bool) -> Message:
        return self._exchange.outgoing(message)

    # ------------------------------------------------------------------ handshake

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Iterable[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """Accept the connection.

        Args:
          subprotocol: one of the subprotocols the client offered
            (``websocket.scope["subprotocols"]``), or ``None``.
          headers: extra response headers as ``(bytes, bytes)`` pairs; not
            ``sec-websocket-protocol`` (use ``subprotocol``).

        Raises:
          ValueError: the subprotocol was not offered, or a header is not allowed (under
            hypercorn 0.18 either would crash the whole server, so nothing is sent).
          TypeError: headers are not ``(bytes, bytes)`` pairs.
          LocalProtocolError: the connection was already accepted, closed or denied.

        Cancellation:
          If this raises ``trio.Cancelled``, the connection was not accepted (the
          ``websocket.connect`` message may have been consumed, which changes nothing).
        """
        message = self._exchange.accept_message(subprotocol, headers)
        if self._exchange.client_state is WebSocketState.CONNECTING:
            await self.receive()  # the websocket.connect message
        await self.send(message)

    async def send_denial_response(self, response: ASGIApp) -> None:
        """Refuse the handshake with an HTTP response instead of accepting.

        ``response`` is any ASGI HTTP response callable, such as `trio_ws.Response`
        or a Starlette response; it is run with this WebSocket's ``receive`` and ``send``, so
        its messages are validated like any other.

        Raises:
          TypeError: ``response`` is not an ASGI application (a string, for example).
          LocalProtocolError (a ``RuntimeError``): the server does not support the
            ``websocket.http.response`` extension, or the connection was already accepted,
            closed or denied.

        Cancellation:
          If this raises ``trio.Cancelled`` before the response started, nothing was sent; a
          response interrupted after its start leaves the connection half-answered, and the
          server ends it.
        """
        if not callable(response):
            raise TypeError(
                "send_denial_response() takes an ASGI response such as "
                f"trio_ws.Response(...) or PlainTextResponse(...), not {type(response).__name__}"
            )
        if not self._exchange.denial_supported:
            raise LocalProtocolError(
                "The server doesn't support the Websocket Denial Response extension.",
                connection=self,
            )
        if self._exchange.application_state is not WebSocketState.CONNECTING:
            raise LocalProtocolError(
                "send_denial_response() must be called before the connection is accepted "
                f"(application state is {self._exchange.application_state.name})",
                connection=self,
            )
        await response(self.scope, self.receive, self.send)

    # ------------------------------------------------------------------ receiving

    async def receive_text(self) -> str:
        """Receive the next message, which must be a text message.

        Raises:
          WebSocketDisconnect: the peer disconnected; ``.code`` and ``.reason`` say how.
          UnexpectedMessageType: a binary message arrived; it is consumed and its payload is
            on the exception's ``.data``.
          WebSocketDisconnected: not accepted yet, already closed, or the disconnect was
            already received.
          trio.BusyResourceError: another task is receiving on this WebSocket.

        Cancellation:
          Atomic: if this raises ``trio.Cancelled``, no message was consumed.
        """
        self._exchange.check_receive_data()
        with self._reading:
            message = await self._receive_data()
        return self._exchange.text_of(self._exchange.incoming(message))

    async def receive_bytes(self) -> bytes:
        """Receive the next message, which must be a binary message.

        Raises:
          WebSocketDisconnect: the peer disconnected; ``.code`` and ``.reason`` say how.
          UnexpectedMessageType: a text message arrived; it is consumed and its payload is
            on the exception's ``.data``.
          WebSocketDisconnected: not accepted yet, already closed, or the disconnect was
            already received.
          trio.BusyResourceError: another task is receiving on this WebSocket.

        Cancellation:
          Atomic: if this raises ``trio.Cancelled``, no message was consumed.
        """
        self._exchange.check_receive_data()
        with self._reading:
            message = await self._receive_data()
        return self._exchange.bytes_of(self._exchange.incoming(message))

    async def receive_json(self, mode: str = "text") -> Any:
        """Receive the next message and decode it as JSON.

        Args:
          mode: ``"text"`` to expect a text message, ``"binary"`` for a binary message that
            holds UTF-8 JSON.

        Raises:
          InvalidJSONMessage (a ``ValueError``): the payload is not valid JSON (or not
            UTF-8); the message is consumed, its payload is on ``.data``, and the connection
            stays usable.
          ValueError: ``mode`` is neither ``"text"`` nor ``"binary"``.
          Otherwise as `receive_text` / `receive_bytes`.

        Cancellation:
          Atomic: if this raises ``trio.Cancelled``, no message was consumed.
        """
        binary = check_mode(mode) == "binary"
        self._exchange.check_receive_data()
        with self._reading:
            message = await self._receive_data()
        message = self._exchange.incoming(message)
        raw = self._exchange.bytes_of(message) if binary else self._exchange.text_of(message)
        return _decode_json(raw)

    async def receive_message(self) -> str | bytes:
        """Receive the next message as it came: ``str`` for text, ``bytes`` for binary.

        Raises:
          As `receive_text`, except that either kind of message is accepted.

        Cancellation:
          Atomic: if this raises ``trio.Cancelled``, no message was consumed.
        """
        self._exchange.check_receive_data()
        with self._reading:
            message = await self._receive_data()
        return self._exchange.data_of(self._exchange.incoming(message))

    def iter_text(self) -> MessageIterator[str]:
        """An async iterator of text messages that ends when the peer disconnects."""
        return MessageIterator(self.receive_text)

    def iter_bytes(self) -> MessageIterator[bytes]:
        """An async iterator of binary messages that ends when the peer disconnects."""
        return MessageIterator(self.receive_bytes)

    def iter_json(self, mode: str = "text") -> MessageIterator[Any]:
        """An async iterator of JSON messages that ends when the peer disconnects."""
        check_mode(mode)
        return MessageIterator(lambda: self.receive_json(mode))

    # ------------------------------------------------------------------ sending

    async def send_text(self, data: str) -> None:
        """Send a text message.

        Raises:
          TypeError: ``data`` is not a ``str``.
          WebSocketDisconnect: the peer has left (the client closed, or the server's ``send``
            raised ``OSError``).
          WebSocketDisconnected: this side already closed.
          LocalProtocolError: the connection was not accepted.

        Cancellation:
          If this raises ``trio.Cancelled``, nothing was sent. Once handed to the server the
          message goes out whole (the ASGI send is shielded); a cancellation that arrives
          meanwhile is delivered at the caller's next checkpoint.
        """
        await self._send_data(self._exchange.text_message(data))

    async def send_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Send a binary message.

        Raises:
          TypeError: ``data`` is not bytes-like.
          Otherwise as `send_text`.

        Cancellation:
          As `send_text`.
        """
        await self._send_data(self._exchange.bytes_message(data))

    async def send_json(self, data: Any, mode: str = "text") -> None:
        """Send ``data`` encoded as compact JSON, in a text (default) or binary message.

        Raises:
          TypeError: ``data`` is not JSON-serialisable (nothing was sent).
          ValueError: ``mode`` is neither ``"text"`` nor ``"binary"``.
          Otherwise as `send_text`.

        Cancellation:
          As `send_text`.
        """
        binary = check_mode(mode) == "binary"
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if binary:
            await self._send_data(self._exchange.bytes_message(text.encode("utf-8")))
        else:
            await self._send_data(self._exchange.text_message(text))

    # ------------------------------------------------------------------ closing

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection (before ``accept()``: deny it, which servers answer with 403).

        Idempotent: once this side has closed, or once the peer has gone, it does nothing.
        It works while the calling task is being cancelled: the close is sent in a shielded
        scope that waits at most ``options.close_timeout`` seconds for sends already in
        flight or queued (they go out first).

        Raises:
          ValueError, TypeError: the code is not one an endpoint may send (1000-1003,
            1007-1014, 3000-4999) or the reason is over 123 UTF-8 bytes. Checked first.
          LocalProtocolError: a denial response is in progress.
          trio.Cancelled: after the close was made, if the caller is being cancelled.

        Cancellation:
          The close is made even under cancellation; the ``Cancelled`` is raised after it.
        """
        reason = validate_close(code, reason)
        structured = self._structured
        if structured is None:
            await self._link.close(code, reason)
        else:
            await self._link.close(code, reason, structured.wait_drained)
            if self._exchange.closed_by is not None:
                structured.notify_end()
        await trio.lowlevel.checkpoint_if_cancelled()

    # ------------------------------------------------------------------ the send path

    def _send_data(self, message: Message) -> Awaitable[None]:
        """Send a data message that the exchange has already built and checked: the coroutine
        to await (no coroutine layer of its own on the per-message path)."""
        structured = self._structured
        if structured is None or not structured.buffered_sending:
            return self._link.send_data(message, self._recheck)
        return self._enqueue(structured, message)

    async def _enqueue(self, structured: Structured, message: Message) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        await structured.enqueue(message)  # returns once queued; the writer sends it

    def _frame_writer(self) -> Callable[[bytes], bool] | None:
        """The server's non-waiting writer of ready-made frames (``trio_ws.serve``'s engine),
        guarded by this connection's rules; ``None`` if the server has none.

        The writer returns ``False`` (nothing written, send it the usual way) unless the
        message could go out now without overtaking anything: no send of this connection in
        progress or queued, and data may be sent (accepted, not closed, the peer not gone).
        Used by `trio_ws.broadcast`'s fan-out.
        """
        extension = (self.scope.get("extensions") or {}).get(SEND_FRAME_NOWAIT_EXTENSION)
        send_frame_nowait = extension.get("send_frame_nowait") if extension else None
        if send_frame_nowait is None:
            return None
        turn, exchange = self._link.turn, self._exchange

        def write(frame: bytes) -> bool:
            structured = self._structured
            if turn.held or (structured is not None and structured.buffered_sending):
                return False
            try:
                exchange.check_can_send_data()
            except Exception:  # the ordinary send raises it to whoever sends next
                return False
            sent: bool = send_frame_nowait(frame)
            return sent

        return write

    def _recheck(self, message: Message, waited: bool) -> Message:
        """After waiting for the turn the state may have moved on (a close, a disconnect)."""
        if waited:
            self._exchange.check_can_send_data()
        return message

    # ------------------------------------------------------------------ structured mode

    async def __aenter__(self) -> WebSocket:
        """Enter structured mode: start the per-connection nursery and the receive pump.

        Raises:
          RuntimeError: the WebSocket is already in (or has finished) structured mode.

        Cancellation:
          If cancelled, nothing was started.
        """
        if self._structured is not None:
            raise RuntimeError("a WebSocket can enter structured mode only once")
        structured = Structured(self._link, self._options, name=str(self.scope.get("path")))
        await structured.enter()
        self._structured = structured
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        """Leave structured mode: cancel the connection's tasks and close the connection.

        See `trio_ws._structured.Structured.exit` for which code each way out of the
        block sends. ``WebSocketDisconnect`` and ``WebSocketException`` are absorbed; every
        other exception propagates unchanged.

        Cancellation:
          The close is shielded and bounded by ``options.close_timeout``.
        """
        return await self._require_structured("__aexit__").exit(exc)

    def _require_structured(self, what: str) -> Structured:
        if self._structured is None:
            raise RuntimeError(
                f"{what} needs structured mode: use `async with WebSocket(...) as ws:` "
                "or trio_ws.websocket_app"
            )
        return self._structured

    @property
    def options(self) -> ConnectionOptions:
        """The connection's `ConnectionOptions`."""
        return self._options

    @property
    def nursery(self) -> trio.Nursery:
        """The connection's nursery, for the application's own per-connection tasks.

        Tasks started in it are cancelled when the block ends; an exception in one of them
        ends the block and closes the connection with 1011.

        Raises:
          RuntimeError: not in structured mode.
        """
        nursery = self._require_structured("ws.nursery").nursery
        assert nursery is not None
        return nursery

    def start_soon(
        self,
        fn: Callable[[Unpack[PosArgs]], Awaitable[object]],
        *args: *PosArgs,
        name: object = None,
    ) -> None:
        """Start ``fn(*args)`` in the connection's nursery (``ws.nursery.start_soon``).

        Raises:
          RuntimeError: not in structured mode, or the block has ended.
        """
        self._require_structured("ws.start_soon").start_soon(fn, *args, name=name)

    async def wait_disconnected(self) -> None:
        """Wait until the connection has ended: the peer left or the application closed.

        Returns at once if it has already ended. ``close_code``, ``close_reason`` and
        ``closed_by`` are set when it returns.

        Raises:
          RuntimeError: not in structured mode (only the receive pump can notice a
            disconnect while nobody receives).

        Cancellation:
          Safe to cancel; it only waits.
        """
        await self._require_structured("wait_disconnected()").wait_ended()

    def cancel_on_disconnect(self) -> contextlib.AbstractContextManager[trio.CancelScope]:
        """A cancel scope that is cancelled when the connection ends.

            with ws.cancel_on_disconnect() as scope:
                await some_long_wait()
            if scope.cancelled_caught:
                ...  # the peer left (or the app closed) while we waited

        Entered after the end, the scope is cancelled at once.

        Raises:
          RuntimeError: not in structured mode.
        """
        return self._require_structured("cancel_on_disconnect()").cancel_on_disconnect()

    def statistics(self) -> WebSocketStatistics:
        """A snapshot of the buffers of a structured-mode connection.

        Raises:
          RuntimeError: not in structured mode.
        """
        return self._require_structured("statistics()").statistics()

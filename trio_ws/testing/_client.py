"""The client end of an in-memory WebSocket connection, as yielded by `connect`."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar, Unpack, final

import trio

from .._exceptions import InvalidJSONMessage, UnexpectedMessageType, WebSocketException
from .._server_exchange import AppClosed, DataSent
from .._structured import WebSocketStatistics
from .._websocket import MessageIterator
from ..client import ClientClosedBy
from ._emulator import check_close_code, check_close_reason
from ._exceptions import ConnectionClosed

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from .._server_exchange import Accepted
    from .._structured import PosArgs
    from .._types import Message, Scope
    from ..client import ClientOptions
    from ._emulator import ServerEmulator

__all__ = ["WebSocketTestClient"]

_Kind = TypeVar("_Kind", str, bytes)


@final
class WebSocketTestClient:
    """A WebSocket client connected in memory to an ASGI application.

    Create it with `trio_ws.testing.connect`, never directly. Several tasks may send and
    receive at once: messages go to the app, and come back to the client, in FIFO order.

    It has the methods and attributes of `trio_ws.ClientWebSocket` (what `trio_ws.connect`
    yields), so client code can be tested against an ASGI app without sockets; its errors are
    the same classes (`ConnectionClosed` is a ``trio_ws.WebSocketDisconnect``). What only
    tests need is added: `receive`, `app_messages`, `app_exception`, `app_finished`,
    `wait_app_finished`, `drop`, `scope`. Where memory differs (the keepalive, `statistics`)
    each member says so.

    Attributes:
      subprotocol: the subprotocol the app accepted, or ``None``.
      response_headers: the headers the app passed with ``websocket.accept``.
      scope: the ASGI scope the app was called with.
    """

    def __init__(
        self,
        emulator: ServerEmulator,
        accepted: Accepted,
        options: ClientOptions,
        close_timeout: float,
    ) -> None:
        self._emulator = emulator
        self._options = options  # its close_timeout is not used: the next argument is
        self._close_timeout = close_timeout
        self._opened_at = trio.current_time()
        self._receive_finished = False
        self._dropped = False
        self._failed = False  # the block or a task raised: closed with 1011
        self._tasks: trio.Nursery | None = None  # ws.nursery, while run_tasks hosts it
        self.subprotocol: str | None = accepted.subprotocol
        self.response_headers: list[tuple[bytes, bytes]] = accepted.headers
        self.scope: Scope = emulator.scope

    def __repr__(self) -> str:
        state = "open" if self.close_code is None else f"closed {self.close_code}"
        return f"<WebSocketTestClient {self.scope['path']!r} {state}>"

    # ---------------------------------------------------------------- what happened

    @property
    def close_code(self) -> int | None:
        """``None`` while open; then the close code, whichever side closed.

        The app's code when it sent ``websocket.close``, 1011 when it returned or raised
        without closing (as hypercorn does), the client's code after `close`, 1006 after
        `drop`. Set as soon as the close happens, even before `receive` has
        drained the messages the app sent before it.
        """
        return self._emulator.close_code

    @property
    def close_reason(self) -> str:
        """The reason of the close (``""`` while open or when there was none)."""
        return self._emulator.close_reason

    @property
    def closed_by(self) -> ClientClosedBy | None:
        """Who ended the connection, as `trio_ws.ClientWebSocket.closed_by` says: ``CLIENT``
        after `close` (or a ``WebSocketException`` leaving the block), ``SERVER`` when the
        app closed or ended, or after `drop` (a lost connection), ``ERROR`` when the block
        raised. ``None`` while open."""
        if self._emulator.close_code is None:
            return None
        if self._failed:
            return ClientClosedBy.ERROR
        if self._emulator.closed_by_client and not self._dropped:
            return ClientClosedBy.CLIENT
        return ClientClosedBy.SERVER

    @property
    def url(self) -> str:
        """``ws://testserver/path?query``, from the scope."""
        return scope_url(self.scope)

    @property
    def latency(self) -> float | None:
        """``0.0`` once ``ping_interval`` has passed since the connection opened (in memory
        the server answers a ping at once: ASGI apps never see pings), ``None`` before that
        or with ``ping_interval=None``, as `trio_ws.ClientWebSocket.latency` is ``None``
        before the first pong."""
        interval = self._options.ping_interval
        if interval is None or trio.current_time() < self._opened_at + interval:
            return None
        return 0.0

    @property
    def keepalive_timed_out(self) -> bool:
        """Always ``False``: in memory a pong is never late (``ping_timeout`` cannot pass).
        To test what a dead connection does to client code, use `drop`."""
        return False

    @property
    def app_messages(self) -> list[Message]:
        """Every message the app passed to ``send``, in order, as shallow copies.

        It includes ``websocket.accept`` and any message the server refused (which raised
        into the app) or dropped (sends after the client left, spec 2.3).
        """
        return self._emulator.app_messages

    @property
    def app_exception(self) -> Exception | None:
        """What the app raised, if it has raised (whatever ``raise_app_exceptions`` says)."""
        return self._emulator.app_exception

    @property
    def app_finished(self) -> bool:
        """Whether the application has returned, raised or been cancelled."""
        return self._emulator.app_done.is_set()

    async def wait_app_finished(self) -> None:
        """Wait until the application has returned, raised or been cancelled.

        Raises:
          Nothing: what the app raised is in `app_exception` (and leaves ``connect``).

        Cancellation:
          Safe to cancel; nothing happens to the connection or the app.
        """
        await self._emulator.app_done.wait()

    # ---------------------------------------------------------------- sending

    async def send_text(self, data: str) -> None:
        """Send a text message to the app.

        Raises:
          TypeError: ``data`` is not a ``str``.
          ConnectionClosed: the connection is closed (by either side, or the app ended).

        Cancellation:
          Atomic: if cancelled, the message was not queued. Blocks while the app's receive
          queue (``queue_size``) is full; this is where backpressure shows.
        """
        if not isinstance(data, str):
            raise TypeError(f"send_text() needs a str, got {type(data).__name__}")
        await self._emulator.client_send(data)

    async def send_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Send a binary message to the app.

        Raises:
          TypeError: ``data`` is not bytes-like.
          ConnectionClosed: the connection is closed (by either side, or the app ended).

        Cancellation:
          Atomic: if cancelled, the message was not queued. Blocks while the app's receive
          queue is full.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"send_bytes() needs bytes, got {type(data).__name__}")
        await self._emulator.client_send(bytes(data))

    async def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        """Send ``data`` encoded as JSON, in a text message or (``mode="binary"``) UTF-8 bytes.

        Raises:
          ValueError: ``mode`` is neither ``"text"`` nor ``"binary"``.
          TypeError: ``data`` is not JSON-serialisable.
          ConnectionClosed: the connection is closed.

        Cancellation:
          Atomic: if cancelled, the message was not queued.
        """
        if mode not in ("text", "binary"):
            raise ValueError(f'mode must be "text" or "binary", got {mode!r}')
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if mode == "text":
            await self._emulator.client_send(text)
        else:
            await self._emulator.client_send(text.encode("utf-8"))

    # ---------------------------------------------------------------- receiving

    async def receive(self) -> str | bytes:
        """Receive the next message the app sent: ``str`` for text, ``bytes`` for binary.

        Messages the app sent before closing are received first; then this raises. After the
        client's own `close` or `drop` it raises at once (pending messages are
        discarded, as real clients do after a local close).

        Raises:
          ConnectionClosed: the app closed (its code and reason), the app ended without
            closing (1011), or the client closed or dropped the connection itself.

        Cancellation:
          Atomic: if cancelled, no message was consumed.
        """
        if self._receive_finished or self._emulator.closed_by_client:
            await trio.lowlevel.checkpoint()
            raise self._emulator.closed_error()
        try:
            item = await self._emulator.outbound.receive()
        except trio.EndOfChannel:
            self._receive_finished = True
            raise self._emulator.closed_error() from None
        # Nothing below awaits: a message taken from the channel is never lost to a cancel.
        if isinstance(item, DataSent):
            limit = self._options.max_message_size
            if limit is not None and _size(item.data) > limit:
                return self._too_big(item.data, limit)
            return item.data
        if isinstance(item, AppClosed):
            self._receive_finished = True
            raise self._emulator.closed_error()
        raise AssertionError(f"unexpected item after the handshake: {item!r}")  # pragma: no cover

    async def receive_message(self) -> str | bytes:
        """Receive the next message as it came: ``str`` for text, ``bytes`` for binary
        (`receive` under the name `trio_ws.ClientWebSocket` uses).

        Raises:
          ConnectionClosed: as for `receive`.

        Cancellation:
          Atomic: if cancelled, no message was consumed.
        """
        return await self.receive()

    def iter_text(self) -> MessageIterator[str]:
        """An async iterator of text messages that ends when the connection closes."""
        return MessageIterator(self.receive_text)

    def iter_bytes(self) -> MessageIterator[bytes]:
        """An async iterator of binary messages that ends when the connection closes."""
        return MessageIterator(self.receive_bytes)

    def iter_json(self, mode: Literal["text", "binary"] = "text") -> MessageIterator[Any]:
        """An async iterator of JSON messages that ends when the connection closes."""
        if mode not in ("text", "binary"):
            raise ValueError(f'mode must be "text" or "binary", got {mode!r}')
        return MessageIterator(lambda: self.receive_json(mode))

    # ---------------------------------------------------------------- the connection's tasks

    @property
    def nursery(self) -> trio.Nursery:
        """The connection's nursery, as `trio_ws.ClientWebSocket.nursery`: its tasks are
        cancelled when the ``connect`` block ends, and what they raise follows the block's
        close rules: a ``WebSocketException`` closes the connection with its code and
        reason, this connection's `ConnectionClosed` is absorbed, and any other exception
        closes with 1011 and comes out of ``connect`` unwrapped. In each case the other tasks
        are cancelled. Unlike ``trio_ws.connect``'s block, the test body goes on after a
        task's ``WebSocketException`` (its next use of the connection raises
        `ConnectionClosed`, which the block absorbs); later tasks get a fresh nursery.

        Raises:
          RuntimeError: the ``connect`` block has ended.
        """
        if self._tasks is None:
            raise RuntimeError("ws.nursery needs an open trio_ws.testing.connect() block")
        return self._tasks

    def start_soon(
        self,
        fn: Callable[[Unpack[PosArgs]], Awaitable[object]],
        *args: *PosArgs,
        name: object = None,
    ) -> None:
        """Start ``fn(*args)`` in `nursery`, as `trio_ws.ClientWebSocket.start_soon`.

        Raises:
          RuntimeError: the ``connect`` block has ended.
        """
        self.nursery.start_soon(fn, *args, name=name)

    async def _run_tasks(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Host `nursery` until cancelled (``connect`` runs this), applying the close rules
        to what its tasks raise."""
        try:
            while True:
                try:
                    async with trio.open_nursery() as tasks:
                        self._tasks = tasks
                        task_status.started()
                        task_status = trio.TASK_STATUS_IGNORED
                        await trio.sleep_forever()
                except BaseExceptionGroup as group:
                    await self._judge(group)
        finally:
            self._tasks = None

    async def _judge(self, group: BaseExceptionGroup[BaseException]) -> None:
        """Close as the tasks' exceptions say; re-raise the group for a cancellation and
        an error (unwrapped when it is one), return for the close rules' ends."""
        _, rest = group.split(trio.Cancelled)
        if rest is None:
            raise group  # cancelled: the block is ending
        ends, errors = rest.split(
            lambda exc: (
                isinstance(exc, WebSocketException)
                or (isinstance(exc, ConnectionClosed) and exc.connection is None)
            )
        )
        timeout = self._close_timeout
        if errors is not None:
            self._failed = True
            with trio.move_on_after(timeout, shield=True):
                await self.close(1011)
            leaves = _leaves(errors)
            raise leaves[0] if len(leaves) == 1 else errors
        assert ends is not None  # rest held something, and none of it was an error
        requested = next((e for e in _leaves(ends) if isinstance(e, WebSocketException)), None)
        if requested is not None:
            with trio.move_on_after(timeout):
                await self.close(requested.code, requested.reason)

    async def wait_disconnected(self) -> None:
        """Wait until the connection has ended (either side closed, or `drop`); returns at
        once if it has.

        Raises:
          Nothing.

        Cancellation:
          Safe to cancel; it only waits.
        """
        await self._emulator.closed.wait()

    @contextlib.contextmanager
    def cancel_on_disconnect(self) -> Iterator[trio.CancelScope]:
        """A cancel scope that is cancelled when the connection ends (at once if it has)."""
        scope = trio.CancelScope()
        if self._emulator.close_code is not None:
            scope.cancel("trio_ws.testing: the connection had already ended")
        scopes = self._emulator.cancel_on_close
        scopes.add(scope)
        try:
            with scope:
                yield scope
        finally:
            scopes.discard(scope)

    def statistics(self) -> WebSocketStatistics:
        """A snapshot of the connection's buffers, with `trio_ws.ClientWebSocket.statistics`'s
        fields: ``inbound_buffered`` counts what the app sent and the client has not received
        yet (in memory the app's sends never wait, so it can exceed ``inbound_capacity``, and
        ``dropped`` stays 0); ``outbound_queued`` is 0 (a send hands its message to the app's
        queue at once); the capacities are those of ``options``; ``pump_running`` says whether
        more may still be received."""
        options = self._options.connection
        return WebSocketStatistics(
            inbound_buffered=self._emulator.outbound.statistics().current_buffer_used,
            inbound_capacity=options.inbound_buffer,
            dropped=0,
            outbound_queued=0,
            outbound_capacity=options.outbound_buffer,
            pump_running=not (self._receive_finished or self._emulator.closed_by_client),
        )

    async def receive_text(self) -> str:
        """Receive the next message, which must be a text message (`receive_bytes`: binary).

        Raises:
          trio_ws.UnexpectedMessageType: the message was of the other kind; it is consumed and
            its payload is in ``.data``.
          ConnectionClosed: as for `receive`.

        Cancellation:
          Atomic: if cancelled, no message was consumed.
        """
        return await self._receive_kind(str, "text")

    async def receive_bytes(self) -> bytes:
        """Receive the next message, which must be a binary message.

        Raises:
          As `receive_text` (which says what a message of the other kind raises).

        Cancellation:
          As `receive_text`.
        """
        return await self._receive_kind(bytes, "bytes")

    async def _receive_kind(self, kind: type[_Kind], name: Literal["text", "bytes"]) -> _Kind:
        data = await self.receive()
        if not isinstance(data, kind):
            raise UnexpectedMessageType(name, data)
        return data

    async def receive_json(self, mode: Literal["text", "binary"] = "text") -> Any:
        """Receive the next message and decode it as JSON.

        ``mode="text"`` expects a text message, ``mode="binary"`` a binary one holding UTF-8.

        Raises:
          ValueError: ``mode`` is neither ``"text"`` nor ``"binary"``.
          trio_ws.UnexpectedMessageType: the message is of the other kind (payload in
            ``.data``).
          trio_ws.InvalidJSONMessage: the payload is not valid JSON (payload in ``.data``).
          ConnectionClosed: as for `receive`.

        Cancellation:
          Atomic: if cancelled, no message was consumed.
        """
        if mode not in ("text", "binary"):
            raise ValueError(f'mode must be "text" or "binary", got {mode!r}')
        data = await (self.receive_text() if mode == "text" else self.receive_bytes())
        try:
            return json.loads(data)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise InvalidJSONMessage(data, str(exc)) from None

    # ---------------------------------------------------------------- closing

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection: the app receives ``websocket.disconnect`` with ``code``.

        The ``reason`` is delivered only when the spec version is 2.5 or later. Closing an
        already closed connection does nothing. Afterwards sends and receives raise
        `ConnectionClosed`, and sends from the app are dropped (2.3) or raise
        `OSError` (2.4+).

        Raises:
          ValueError: ``code`` may not be sent (1000-1003, 1007-1014, 3000-4999 may), or
            ``reason`` is longer than 123 UTF-8 bytes.

        Cancellation:
          Atomic. The disconnect goes through the app's bounded receive queue like any
          message, so this blocks while the queue is full; if cancelled then, nothing was
          delivered and the connection is still open.
        """
        await self._emulator.client_close(check_close_code(code), check_close_reason(reason))

    def drop(self) -> None:
        """Lose the connection abruptly, without a close frame (fault injection).

        The app receives ``websocket.disconnect`` with code 1006 after the messages already
        queued for it. ``close_code`` becomes 1006 at once. Does nothing if already closed.
        This is not a checkpoint.
        """
        if self._emulator.close_code is None:
            self._dropped = True
        self._emulator.client_drop()

    def _too_big(self, data: str | bytes, limit: int) -> NoReturn:
        """A message over ``max_message_size``: close with 1009, as `trio_ws.connect` does
        (the app gets the disconnect after what is queued for it), and raise it. No await:
        the receive that took it stays atomic."""
        reason = f"message of {_size(data)} bytes over max_message_size={limit}"
        self._receive_finished = True
        self._dropped = True  # closed_by SERVER, as trio_ws.connect reports a failed connection
        self._emulator.client_drop(1009, reason)
        raise self._emulator.closed_error()


def scope_url(scope: Scope) -> str:
    """``ws://host[:port]/path?query`` of an in-memory connection, from its scope."""
    host, port = scope.get("server") or ("testserver", None)
    default = 443 if scope["scheme"] == "wss" else 80
    netloc = host if port in (None, default) else f"{host}:{port}"
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{scope['scheme']}://{netloc}{scope['path']}" + (f"?{query}" if query else "")


def _size(data: str | bytes) -> int:
    return len(data) if isinstance(data, bytes) else len(data.encode("utf-8"))


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    leaves: list[BaseException] = []
    for exc in group.exceptions:
        leaves.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return leaves

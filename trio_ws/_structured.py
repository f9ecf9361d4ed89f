"""Structured mode: the per-connection nursery behind ``async with WebSocket(...) as ws``.

While the block runs, a nursery holds:

* the **receive pump**, the only caller of the ASGI ``receive`` from then on. It keeps the
  server's queue drained into a bounded buffer (so pings are answered and closes noticed even
  when the application never reads), applies the overflow policy, and sees the disconnect as
  soon as the server reports it: sends fail with ``WebSocketDisconnect`` from that moment,
  receives once the messages that came before it have been consumed;
* when ``outbound_buffer > 0``, a **writer** that delivers queued messages in order;
* the application's own per-connection tasks (``ws.nursery``, ``ws.start_soon``).

"Single writer" is a property rather than a task: one ASGI send at a time, in call order,
never cancelled half-way, stopping only between messages. Without an outbound buffer (the
default) each sender performs its shielded send itself, in FIFO turn behind any send in
flight, which saves a task switch per message. With ``outbound_buffer > 0`` every data send is
queued and the writer task delivers the queue; raw sends and closes wait for it to drain.

Leaving the block ends the connection (see :meth:`Structured.exit` for the codes) and cancels
the tasks left in the nursery. Exceptions come out as they were raised: our nursery never
wraps one exception in an ``ExceptionGroup``.
"""

from __future__ import annotations

import contextlib
import enum
import math
from collections import deque
from typing import TYPE_CHECKING, Any, Final, TypeVarTuple, Unpack

import attrs
import trio

from ._exceptions import WebSocketDisconnect, WebSocketException
from ._protocol import ClosedBy
from ._types import Message

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from ._link import Link
    from ._options import ConnectionOptions

__all__ = ["Structured", "WebSocketStatistics"]

PosArgs = TypeVarTuple("PosArgs")

_OVERFLOW_REASON: Final = "inbound buffer overflow"
# The parking lots of a connection (made on first use, see Structured._lot).
_DATA_ARRIVED: Final = "data arrived"  # a receiver waits for the pump
_SPACE_FREED: Final = "space freed"  # the pump waits for a receiver ("block" policy)
_DRAINED: Final = "drained"  # a close waits for the writer to empty the outbox
#: How long the application must have been away from receiving before the pump reads from
#: the server again. It bounds how late a send-only phase notices a disconnect (the pump
#: reads at once in a handler that never receives), and costs at most one pump wake-up per
#: period while the application is receiving.
_PUMP_TAKEOVER_DELAY: Final = 0.05


@attrs.frozen(kw_only=True)
class WebSocketStatistics:
    """A snapshot of a structured-mode connection's buffers (``ws.statistics()``).

    Attributes:
      inbound_buffered: received messages waiting for the application.
      inbound_capacity: the size of that buffer (``ConnectionOptions.inbound_buffer``).
      dropped: messages discarded by the ``drop_oldest`` overflow policy so far.
      outbound_queued: messages accepted by ``send_*`` and not yet handed to the server.
      outbound_capacity: ``ConnectionOptions.outbound_buffer``.
      pump_running: whether the receive pump is still reading from the server.
    """

    inbound_buffered: int
    inbound_capacity: int
    dropped: int
    outbound_queued: int
    outbound_capacity: int
    pump_running: bool


def _disconnect_fields(message: Message) -> tuple[int, str]:
    code = message.get("code", 1005)
    reason = message.get("reason") or ""
    return (code if type(code) is int else 1005), (reason if isinstance(reason, str) else "")


def _non_cancelled_leaves(exc: BaseException | None) -> list[BaseException]:
    """What a block raised, as a flat list without ``trio.Cancelled``."""
    if exc is None:
        return []
    leaves = _leaf_exceptions(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return [leaf for leaf in leaves if not isinstance(leaf, trio.Cancelled)]


def _leaf_exceptions(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    leaves: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            leaves.extend(_leaf_exceptions(exc))
        else:
            leaves.append(exc)
    return leaves


class _Reader(enum.Enum):
    """Who is waiting on the server's ``receive``: never both at once."""

    NOBODY = "nobody"
    APP = "app"  # the application, reading directly while it receives
    PUMP = "pump"  # the pump, while the application is away


class _Turn(enum.Enum):
    """What the pump does next (see ``Structured._wait_for_turn_to_read``)."""

    READ = "read"  # call the server's receive
    LEAVE = "leave"  # the application sits idle in receive: end the task until it returns
    STOP = "stop"  # the server reported the end: never receive again


class Structured:
    """The machinery of one structured-mode connection. Owned by its ``WebSocket``; it reaches
    the server only through the connection's :class:`~trio_ws._link.Link`."""

    def __init__(self, link: Link, options: ConnectionOptions, *, name: str) -> None:
        self._link = link
        self._name = name
        self._options = options
        # Created on first use: an idle connection should cost little memory.
        self._buffer: deque[Message] | None = None
        self._lots: dict[str, trio.lowlevel.ParkingLot] = {}  # see _lot()
        self._receiving = False
        # Who may call the server's receive: the application while it is receiving (no
        # hand-off), the pump when the application has not received for a moment.
        self._reader = _Reader.NOBODY  # who is waiting on the server's receive right now
        self._last_app_receive = -math.inf
        self._app_read_since = -math.inf
        self._server_done = False  # the server reported the disconnect: never receive again
        self._ended = False
        self._ended_event: trio.Event | None = None
        self._disconnect_scopes: set[trio.CancelScope] | None = None
        self._dropped = 0
        # In service from the block's start until it ends or the server reports the end; while
        # it is, somebody (the application or the pump) reads from the server on demand.
        self._live = False
        self._pump_active = False  # a pump task exists (it leaves while a reader sits idle)
        self._closing = False
        self._queued = 0  # messages handed to the writer and not yet sent
        self._outbox: trio.MemorySendChannel[Message] | None = None
        self._nursery_manager: Any = None
        self.nursery: trio.Nursery | None = None

    # ------------------------------------------------------------------ lifetime

    async def enter(self) -> None:
        """Open the nursery and start the pump (and the writer, if there is an outbox)."""
        manager = trio.open_nursery()
        nursery = await manager.__aenter__()
        self._nursery_manager = manager
        self.nursery = nursery
        self._live = True
        self._start_pump()
        if self._options.outbound_buffer > 0:
            outbox, inbox = trio.open_memory_channel[Message](self._options.outbound_buffer)
            self._outbox = outbox
            nursery.start_soon(self._writer, inbox, name="trio_ws writer")

    async def exit(self, exc: BaseException | None) -> bool:
        """End the connection as the block ended, and close the nursery.

        The block and the tasks of ``ws.nursery`` follow the same rules; what they raised
        decides the close:

        * nothing, or a ``WebSocketDisconnect`` of *this* connection (or one raised by the
          application with ``connection=None``): queued messages are flushed, then close 1000
          if still open; the disconnect is absorbed;
        * ``WebSocketException(code, reason)``: flush, then close with that code; absorbed;
        * cancellation from outside (server shutdown): close with ``shutdown_code``,
          ``closed_by`` SERVER_SHUTDOWN, and the ``Cancelled`` propagates;
        * any other exception, including the ``WebSocketDisconnect`` of *another* connection
          (a peer this handler sent to has left): close 1011 (the exception text is not
          sent), ``closed_by`` ERROR, and the exception propagates as it was raised. An
          ``ExceptionGroup`` comes out only when several exceptions were raised at once.

        An ``ExceptionGroup`` raised by the application's own nursery is judged by its
        leaves: if they are all this connection's disconnects (or ``WebSocketException``),
        it ends the block as they would.

        Tasks still running in ``ws.nursery`` are cancelled first. Every close is shielded
        and bounded by ``close_timeout``. Returns True when the block's exception is absorbed.
        """
        nursery = self.nursery
        assert nursery is not None
        body_leaves = _non_cancelled_leaves(exc)
        if not self._errors_in(body_leaves):
            with trio.CancelScope(shield=True) as scope:
                scope.relative_deadline = self._options.close_timeout
                await self.wait_drained()
        self._closing = True  # no pump restarts from here on
        nursery.cancel_scope.cancel("trio_ws: the WebSocket block ended")
        child_leaves: list[BaseException] = []
        outer_cancel: BaseException | None = None
        try:
            await self._nursery_manager.__aexit__(None, None, None)
        except BaseExceptionGroup as group:
            for leaf in _leaf_exceptions(group):
                if isinstance(leaf, trio.Cancelled):
                    outer_cancel = outer_cancel or leaf
                else:
                    child_leaves.append(leaf)
        self._live = False
        self._queued = 0  # whatever the writer had not sent is dropped
        self._wake_all(_DRAINED)

        errors = self._errors_in(body_leaves) + self._errors_in(child_leaves)
        if errors:
            await self._close_for(ClosedBy.ERROR, 1011, "")
            if len(errors) == 1:
                if errors[0] is exc:
                    return False  # propagates unchanged, with its traceback
                raise errors[0] from None
            if exc is not None and not child_leaves:
                return False  # the application's own group, as it raised it
            raise BaseExceptionGroup("several tasks of a trio_ws connection failed", errors)
        requested = next(
            (e for e in body_leaves + child_leaves if isinstance(e, WebSocketException)), None
        )
        if requested is not None:
            await self._close_for(ClosedBy.APP, requested.code, requested.reason)
            return exc is not None
        if isinstance(exc, trio.Cancelled) and outer_cancel is None:
            # Whose Cancelled is it? If a scope outside the block is cancelled, this
            # checkpoint raises again; otherwise it was ws.nursery's own scope (someone
            # cancelled it, or a task ended the block), which ends the connection normally.
            try:
                await trio.lowlevel.checkpoint_if_cancelled()
            except trio.Cancelled as outside:
                outer_cancel = outside
        if exc is None and outer_cancel is not None:
            # Cancelled from outside while the block was ending: a shutdown after all.
            await self._close_for(ClosedBy.SERVER_SHUTDOWN, self._shutdown_code(), "")
            raise outer_cancel
        if isinstance(exc, trio.Cancelled) and outer_cancel is not None:
            await self._close_for(ClosedBy.SERVER_SHUTDOWN, self._shutdown_code(), "")
            return False
        # Nothing, this connection's own disconnect, or ws.nursery's own cancellation.
        await self._close_for(ClosedBy.APP, 1000, "")
        return exc is not None

    def _errors_in(self, leaves: list[BaseException]) -> list[BaseException]:
        """The exceptions among ``leaves`` that are errors of the handler (close 1011)."""
        return [
            leaf
            for leaf in leaves
            if not isinstance(leaf, WebSocketException) and not self._is_own_disconnect(leaf)
        ]

    def _is_own_disconnect(self, exc: BaseException) -> bool:
        if not isinstance(exc, WebSocketDisconnect):
            return False
        return exc.connection is None or exc.connection is self._link.session.owner

    def _shutdown_code(self) -> int:
        """The server's shutdown code when it announced one (trio_ws.serve), else ours."""
        announced = self._link.session.shutdown_close_code
        return self._options.shutdown_code if announced is None else announced

    async def _close_for(self, closed_by: ClosedBy, code: int, reason: str) -> None:
        """Close (shielded, bounded) unless already closed; record who closed and why."""
        self._link.session.record_end(code, reason, closed_by)  # unless already recorded
        message = {"type": "websocket.close", "code": code, "reason": reason}
        await self._link.close(message, self.wait_drained)
        self.notify_end()

    def notify_end(self) -> None:
        self._ended = True
        if self._ended_event is not None:
            self._ended_event.set()
        for scope in self._disconnect_scopes or ():
            scope.cancel("trio_ws: the WebSocket connection ended")

    # ------------------------------------------------------------------ application API

    def start_soon(
        self,
        fn: Callable[[Unpack[PosArgs]], Awaitable[object]],
        *args: *PosArgs,
        name: object = None,
    ) -> None:
        assert self.nursery is not None
        self.nursery.start_soon(fn, *args, name=name)

    async def wait_ended(self) -> None:
        if self._ended:
            await trio.lowlevel.checkpoint()
            return
        if self._ended_event is None:
            self._ended_event = trio.Event()
        await self._ended_event.wait()

    @contextlib.contextmanager
    def cancel_on_disconnect(self) -> Iterator[trio.CancelScope]:
        scope = trio.CancelScope()
        if self._ended:
            scope.cancel("trio_ws: the WebSocket connection had already ended")
        if self._disconnect_scopes is None:
            self._disconnect_scopes = set()
        self._disconnect_scopes.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._disconnect_scopes.discard(scope)  # not None: added above

    def statistics(self) -> WebSocketStatistics:
        return WebSocketStatistics(
            inbound_buffered=len(self._buffer or ()),
            inbound_capacity=self._options.inbound_buffer,
            dropped=self._dropped,
            outbound_queued=self._queued,
            outbound_capacity=self._options.outbound_buffer,
            pump_running=self._live,
        )

    def _start_pump(self) -> None:
        assert self.nursery is not None
        self._pump_active = True
        self.nursery.start_soon(self._pump, name=f"trio_ws receive pump {self._name}")

    # ------------------------------------------------------------------ lazily made parts

    def _inbound(self) -> deque[Message]:
        """The inbound buffer, made when the pump first needs it."""
        if self._buffer is None:
            self._buffer = deque()
        return self._buffer

    def _lot(self, name: str) -> trio.lowlevel.ParkingLot:
        """The parking lot ``name``, made when someone first waits in it."""
        lot = self._lots.get(name)
        if lot is None:
            lot = self._lots[name] = trio.lowlevel.ParkingLot()
        return lot

    def _wake_one(self, name: str) -> None:
        lot = self._lots.get(name)
        if lot:
            lot.unpark()

    def _wake_all(self, name: str) -> None:
        lot = self._lots.get(name)
        if lot:
            lot.unpark_all()

    # ------------------------------------------------------------------ receiving

    async def receive(self) -> Message:
        """The next message: from the buffer, else straight from the server, else via the pump.

        Atomic under cancellation: a message is either still in the buffer (or the server's
        queue) or returned; nothing is awaited after one is taken.
        """
        if self._receiving:
            raise trio.BusyResourceError("another task is already receiving on this WebSocket")
        self._receiving = True
        try:
            buffer = self._buffer
            if not buffer and self._live and self._reader is _Reader.NOBODY:
                # The block is live and nobody is reading from the server: read directly.
                # (``_pump_running`` is false once the block ended or the server is done.)
                return await self._receive_directly()
            if buffer:
                await trio.lowlevel.checkpoint_if_cancelled()
            while not buffer:
                if not self._live:
                    # The block has ended (or the pump stopped after an overflow close):
                    # nothing more will arrive, and the server must not be asked again.
                    raise self._link.session.disconnect_error()
                # The message stays in the buffer until popped below, with no await in
                # between: a cancelled wait consumes nothing.
                await self._lot(_DATA_ARRIVED).park()
                buffer = self._buffer
            assert buffer is not None  # non-empty here
            message = buffer.popleft()
            self._wake_one(_SPACE_FREED)
        finally:
            self._receiving = False
            self._last_app_receive = trio.current_time()
        return self._link.session.incoming(message)

    async def _receive_directly(self) -> Message:
        """Call the server's ``receive`` in the application's task: no hand-off through the
        pump while the application is reading. The pump waits meanwhile (see ``_pump``)."""
        self._reader = _Reader.APP
        self._app_read_since = trio.current_time()
        try:
            message = await self._link.receive()
        finally:
            self._reader = _Reader.NOBODY
            if not self._pump_active and self._live and not self._closing:
                self._start_pump()  # it left while we sat idle; it watches again from now
        if message.get("type") == "websocket.disconnect":
            self._server_done = True  # never ask the server again; the pump stops too
            self._live = False
            message = self._link.session.incoming(message)
            self.notify_end()
            return message
        return self._link.session.incoming(message)

    async def _wait_for_turn_to_read(self) -> _Turn:
        """Wait until the pump may call the server's ``receive``.

        The application reads directly whenever it is receiving; the pump reads only when it
        has not received for ``_PUMP_TAKEOVER_DELAY`` seconds (so a handler that only sends,
        or has stopped reading, still has its disconnect noticed), and, under the "block"
        policy, only when the buffer has room. While the application is busy reading, the
        pump looks once per period; once the application has sat in ``receive`` for a whole
        period (an idle connection) the pump leaves, and the application's next return from
        ``receive`` starts it again: an idle connection holds no pump task.
        """
        while not self._server_done:
            now = trio.current_time()
            if self._reader is _Reader.APP:
                if now < self._app_read_since + _PUMP_TAKEOVER_DELAY:
                    await trio.sleep_until(self._app_read_since + _PUMP_TAKEOVER_DELAY)
                    continue
                return _Turn.LEAVE
            turn = self._last_app_receive + _PUMP_TAKEOVER_DELAY
            if now < turn:
                await trio.sleep_until(turn)
                continue
            if (
                self._options.overflow == "block"
                and len(self._buffer or ()) >= self._options.inbound_buffer
            ):
                await self._lot(_SPACE_FREED).park()
                continue
            return _Turn.READ
        return _Turn.STOP

    async def _pump(self) -> None:
        """Read from the server into the buffer whenever the application is not reading,
        until the disconnect (never after it)."""
        receive = self._link.receive
        session = self._link.session
        capacity = self._options.inbound_buffer
        overflow = self._options.overflow
        leaving = False
        try:
            while (turn := await self._wait_for_turn_to_read()) is _Turn.READ:
                self._reader = _Reader.PUMP
                try:
                    message = await receive()
                finally:
                    self._reader = _Reader.NOBODY
                buffer = self._inbound()
                if message.get("type") == "websocket.disconnect":
                    self._server_done = True
                    session.peer_disconnected(*_disconnect_fields(message))
                    buffer.append(message)
                    self._wake_all(_DATA_ARRIVED)
                    self.notify_end()
                    return
                if len(buffer) >= capacity:
                    if overflow == "drop_oldest":
                        buffer.popleft()
                        self._dropped += 1
                    else:  # "close"
                        await self._close_on_overflow()
                        return
                buffer.append(message)
                self._wake_one(_DATA_ARRIVED)
            leaving = turn is _Turn.LEAVE
        finally:
            self._pump_active = False
            if not leaving:
                self._live = False
                self._wake_all(_DATA_ARRIVED)

    async def _close_on_overflow(self) -> None:
        """Close with the overflow code; buffered messages stay readable, then the end."""
        session = self._link.session
        code = self._options.overflow_close_code
        session.record_end(code, _OVERFLOW_REASON, ClosedBy.APP)
        session.deliver_after_close = True
        self._inbound().append(
            {"type": "websocket.disconnect", "code": code, "reason": _OVERFLOW_REASON}
        )
        self._wake_all(_DATA_ARRIVED)
        close = {"type": "websocket.close", "code": code, "reason": _OVERFLOW_REASON}
        await self._link.close(close, self.wait_drained)
        session.peer_disconnected(code, _OVERFLOW_REASON)
        self.notify_end()
        # Keep the server's queue moving until it reports the end, so that it can finish
        # the close handshake; what arrives now is discarded.
        receive = self._link.receive
        self._reader = _Reader.PUMP  # the application must not read beside this loop
        try:
            while (await receive()).get("type") != "websocket.disconnect":
                self._dropped += 1
        finally:
            self._reader = _Reader.NOBODY
        self._server_done = True

    # ------------------------------------------------------------------ sending

    @property
    def buffered_sending(self) -> bool:
        return self._outbox is not None

    async def enqueue(self, message: Message) -> None:
        """Queue ``message`` for the writer; waits while the outbox is full (cancellable)."""
        assert self._outbox is not None
        self._queued += 1
        try:
            await self._outbox.send(message)
        except BaseException:
            self._message_done()
            raise

    def _message_done(self) -> None:
        self._queued -= 1
        if self._queued == 0:
            self._wake_all(_DRAINED)

    async def wait_drained(self) -> None:
        """Wait until the writer has handed every queued message to the server."""
        while self._queued > 0:
            await self._lot(_DRAINED).park()

    async def _writer(self, inbox: trio.MemoryReceiveChannel[Message]) -> None:
        link = self._link
        async with inbox:
            async for message in inbox:
                try:
                    await link.send_in_turn(message, self._unless_peer_gone)
                except WebSocketDisconnect:
                    pass  # the peer left: queued messages are dropped, later sends raise
                finally:
                    self._message_done()

    def _unless_peer_gone(self, message: Message, waited: bool) -> Message | None:
        return None if self._link.session.peer_gone else message

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

Leaving the block ends the connection (see `Structured.exit` for the codes) and cancels
the tasks left in the nursery. Exceptions come out as they were raised: our nursery never
wraps one exception in an ``ExceptionGroup``.
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from typing import TYPE_CHECKING, Any, Final, TypeVarTuple, Unpack

import attrs
import trio

from ._exceptions import WebSocketDisconnect, WebSocketException
from ._protocol import ClosedBy, validate_close
from ._reader import AppStep, PumpStep, Reader, ReaderChoice
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
_PUMP_DEADLINE: Final = "pump deadline"  # the pump waits for its turn; woken early if late


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


class Structured:
    """The machinery of one structured-mode connection. Owned by its ``WebSocket``; it reaches
    the server only through the connection's `Link`."""

    def __init__(self, link: Link, options: ConnectionOptions, *, name: str) -> None:
        self._link = link
        self._name = name
        self._options = options
        # Created on first use: an idle connection should cost little memory.
        self._buffer: deque[Message] | None = None
        self._lots: dict[str, trio.lowlevel.ParkingLot] = {}  # see _lot()
        self._receiving = False
        self._choice = ReaderChoice()  # who reads from the server (see _reader.py)
        self._ended = False
        self._ended_event: trio.Event | None = None
        self._disconnect_scopes: set[trio.CancelScope] | None = None
        self._dropped = 0
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
        if self._choice.needs_pump():
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
        if exc is None or (body_leaves and not self._errors_in(body_leaves)):
            # An end the application chose (not an error, not a cancellation): what it queued
            # goes out before the close.
            with trio.CancelScope(shield=True) as scope:
                scope.relative_deadline = self._options.close_timeout
                await self.wait_drained()
        self._choice.end()  # nobody reads from the server any more; no pump restarts
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
            reason = validate_close(requested.code, requested.reason)
            await self._close_for(ClosedBy.APP, requested.code, reason)
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
        return exc.connection is None or exc.connection is self._link.exchange.owner

    def _shutdown_code(self) -> int:
        """The server's shutdown code when it announced one (trio_ws.serve), else ours."""
        announced = self._link.exchange.shutdown_close_code
        return self._options.shutdown_code if announced is None else announced

    async def _close_for(self, closed_by: ClosedBy, code: int, reason: str) -> None:
        """Close (shielded, bounded) unless already closed; record who closed and why."""
        self._link.exchange.record_end(code, reason, closed_by)  # unless already recorded
        await self._link.close(code, reason, self.wait_drained)
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
            pump_running=self._choice.reader is not Reader.DONE,
        )

    def _start_pump(self) -> None:
        assert self.nursery is not None
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
        """The next message: from the buffer, else straight from the server, else via the pump
        (who reads is decided by `ReaderChoice`).

        Atomic under cancellation: a message is either still in the buffer (or the server's
        queue) or returned; nothing is awaited after one is taken.
        """
        if self._receiving:
            raise trio.BusyResourceError("another task is already receiving on this WebSocket")
        self._receiving = True
        choice = self._choice
        choice.app_enters(trio.current_time())
        try:
            waited = False
            while True:
                step = choice.app_step(bool(self._buffer))
                if step is AppStep.DIRECT:
                    return await self._receive_directly()
                if step is AppStep.BUFFER:
                    break
                if step is AppStep.ENDED:
                    # The end was reported (or the block ended): nothing more will arrive,
                    # and the server must not be asked again.
                    raise self._link.exchange.disconnect_error()
                # The pump is reading: wait for what it delivers. A message stays in the
                # buffer until popped below, with no await in between: a cancelled wait
                # consumes nothing.
                await self._lot(_DATA_ARRIVED).park()
                waited = True
            if not waited:
                await trio.lowlevel.checkpoint_if_cancelled()
            buffer = self._buffer
            assert buffer  # BUFFER: not empty, and only this task takes from it
            message = buffer.popleft()
            self._wake_one(_SPACE_FREED)
        finally:
            self._receiving = False
            if choice.app_leaves(trio.current_time()):
                self._wake_one(_PUMP_DEADLINE)
        return self._link.exchange.incoming(message)

    async def _receive_directly(self) -> Message:
        """Call the server's ``receive`` in the application's task: no hand-off through the
        pump while the application is reading. The choice made this task the reader."""
        choice = self._choice
        exchange = self._link.exchange
        try:
            message = await self._link.receive()
        except trio.Cancelled:
            choice.read_done(final=False)  # the server's receive is atomic: nothing was lost
            raise
        except BaseException:
            choice.read_done(final=True)  # a failed receive is not retried
            raise
        finally:
            if choice.needs_pump():
                self._start_pump()  # it left while we sat idle; it watches again from now
        final = exchange.is_disconnect(message)
        choice.read_done(final=final)
        message = exchange.incoming(message)
        if final:
            self.notify_end()
        return message

    def _buffer_full(self) -> bool:
        return (
            self._options.overflow == "block"
            and len(self._buffer or ()) >= self._options.inbound_buffer
        )

    async def _pump(self) -> None:
        """Read from the server into the buffer whenever the choice says so, until the
        disconnect (never after it), or leave while the application sits in receive."""
        choice = self._choice
        receive = self._link.receive
        exchange = self._link.exchange
        capacity = self._options.inbound_buffer
        overflow = self._options.overflow
        for_now = False
        try:
            while True:
                step, until = choice.pump_step(trio.current_time(), self._buffer_full())
                if step is PumpStep.WAIT:
                    if until == math.inf:
                        await self._lot(_SPACE_FREED).park()
                        continue
                    with trio.move_on_at(until):
                        await self._lot(_PUMP_DEADLINE).park()
                    continue
                if step is not PumpStep.READ:
                    for_now = step is PumpStep.LEAVE
                    return
                try:
                    message = await receive()
                except trio.Cancelled:
                    choice.read_done(final=False)
                    raise
                except BaseException:
                    choice.read_done(final=True)
                    raise
                buffer = self._inbound()
                if exchange.is_disconnect(message):
                    choice.read_done(final=True)
                    exchange.peer_disconnected(*exchange.disconnect_fields(message))
                    buffer.append(message)
                    self._wake_all(_DATA_ARRIVED)
                    self.notify_end()
                    return
                choice.read_done(final=False)
                if len(buffer) >= capacity:
                    if overflow == "drop_oldest":
                        buffer.popleft()
                        self._dropped += 1
                    else:  # "close"
                        await self._close_on_overflow()
                        return
                buffer.append(message)
                self._wake_one(_DATA_ARRIVED)
        finally:
            choice.pump_leaves(for_now=for_now)
            if not for_now:
                self._wake_all(_DATA_ARRIVED)

    async def _close_on_overflow(self) -> None:
        """Close with the overflow code; buffered messages stay readable, then the end."""
        exchange = self._link.exchange
        code = self._options.overflow_close_code
        self._choice.end()  # from now on only this loop reads, to drain the server
        exchange.cut_off(code, _OVERFLOW_REASON)
        self._inbound().append(exchange.disconnect_message(code, _OVERFLOW_REASON))
        self._wake_all(_DATA_ARRIVED)
        await self._link.close(code, _OVERFLOW_REASON, self.wait_drained)
        self.notify_end()
        # Keep the server's queue moving until it reports the end, so that it can finish
        # the close handshake; what arrives now is discarded.
        receive = self._link.receive
        while not exchange.is_disconnect(await receive()):
            self._dropped += 1

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
        return None if self._link.exchange.peer_gone else message

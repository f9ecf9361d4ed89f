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
from typing import TYPE_CHECKING, Final, TypeVarTuple, Unpack

import attrs
import trio

from ._bounded_queue import BoundedQueue, Offer
from ._exceptions import WebSocketDisconnect, WebSocketException
from ._protocol import ClosedBy, validate_close
from ._reader import AfterRead, AppStep, PumpStep, Reader, ReaderChoice
from ._wakeup import Wakeup

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from ._link import Link
    from ._options import ConnectionOptions
    from ._types import Message

__all__ = ["Structured", "WebSocketStatistics"]

PosArgs = TypeVarTuple("PosArgs")

_OVERFLOW_REASON: Final = "inbound buffer overflow"
_ADDED: Final = Offer.ADDED  # (an Enum class attribute costs ~0.15 µs on Python 3.11)
_OVERFLOWED: Final = Offer.OVERFLOWED
_DIRECT: Final = AppStep.DIRECT
_WAKE_PUMP: Final = AfterRead.WAKE_PUMP
_START_PUMP: Final = AfterRead.START_PUMP


@attrs.frozen(kw_only=True)
class WebSocketStatistics:
    """A snapshot of a structured-mode connection's buffers (``ws.statistics()``).

    Attributes:
      inbound_buffered: received messages waiting for the application.
      inbound_capacity: the size of that buffer (``ConnectionOptions.inbound_buffer``).
      dropped: messages discarded by the overflow policy so far (the oldest under
        ``drop_oldest``; under ``close``, the one that overflowed and all that came after).
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
        # The pump's buffer, made when the pump first needs it: an idle connection should
        # cost little memory.
        self._inbound: BoundedQueue[Message] | None = None
        # What each side waits for (one waiting task each, see _wakeup.py):
        self._data_arrived = Wakeup()  # the receiver, for the pump to deliver
        self._room_freed = Wakeup()  # the pump, for the receiver to take ("block" policy)
        self._pump_deadline = Wakeup()  # the pump, for its turn; woken early if it is late
        self._choice = ReaderChoice()  # who reads from the server (see _reader.py)
        # The run's clock, read as trio.current_time() reads it, without its two call layers
        # (read twice per receive).
        self._clock = trio.lowlevel.current_clock().current_time
        self._ended = False
        self._ended_event: trio.Event | None = None
        self._disconnect_scopes: set[trio.CancelScope] | None = None
        self._outbox: _Outbox | None = None
        #: Whether data sends go through the outbox and its writer (``outbound_buffer > 0``);
        #: a plain attribute, not a property: it is read on every send.
        self.buffered_sending = False
        self._exit_stack = contextlib.AsyncExitStack()
        self.nursery: trio.Nursery | None = None

    # ------------------------------------------------------------------ lifetime

    async def enter(self) -> None:
        """Open the nursery and start the pump (and the writer, if there is an outbox)."""
        nursery = await self._exit_stack.enter_async_context(trio.open_nursery())
        self.nursery = nursery
        if self._choice.needs_pump():
            self._start_pump()
        if self._options.outbound_buffer > 0:
            self._outbox = _Outbox(self._options.outbound_buffer)
            self.buffered_sending = True
            nursery.start_soon(self._writer, self._outbox, name="trio_ws writer")

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
            await self._exit_stack.aclose()
        except BaseExceptionGroup as group:
            for leaf in _leaf_exceptions(group):
                if isinstance(leaf, trio.Cancelled):
                    outer_cancel = outer_cancel or leaf
                else:
                    child_leaves.append(leaf)
        if self._outbox is not None:
            self._outbox.abandon()  # whatever the writer had not sent is dropped

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
        inbound = self._inbound
        return WebSocketStatistics(
            inbound_buffered=0 if inbound is None else len(inbound),
            inbound_capacity=self._options.inbound_buffer,
            dropped=0 if inbound is None else inbound.dropped,
            outbound_queued=0 if self._outbox is None else self._outbox.in_flight,
            outbound_capacity=self._options.outbound_buffer,
            pump_running=self._choice.reader is not Reader.DONE,
        )

    def _start_pump(self) -> None:
        assert self.nursery is not None
        self.nursery.start_soon(self._pump, name=f"trio_ws receive pump {self._name}")

    def _inbound_queue(self) -> BoundedQueue[Message]:
        """The inbound buffer, made when the pump first needs it."""
        if self._inbound is None:
            self._inbound = BoundedQueue(self._options.inbound_buffer, self._options.overflow)
        return self._inbound

    # ------------------------------------------------------------------ receiving

    async def receive(self) -> Message:
        """The next message: from the buffer, else straight from the server, else via the pump
        (who reads is decided by `ReaderChoice`). As the server delivered it: the caller
        passes it to the exchange's ``incoming``, and keeps to one receiving task at a time
        (the `WebSocket`'s `OneReader`).

        Atomic under cancellation: a message is either still in the buffer (or the server's
        queue) or returned; nothing is awaited after one is taken.
        """
        choice = self._choice
        step = choice.app_enters(self._clock(), bool(self._inbound))
        if step is not _DIRECT:
            handed_over = await self._receive_handed_over(step)
            if handed_over is not None:
                return handed_over
        # The application is the reader: it calls the server's receive itself, with no
        # hand-off through the pump while it is reading (the per-message path).
        try:
            message = await self._link.receive()
        except trio.Cancelled:
            self._direct_read_done(final=False)  # the server's receive is atomic: nothing lost
            raise
        except BaseException:
            self._direct_read_done(final=True)  # a failed receive is not retried
            raise
        final = self._link.exchange.is_disconnect(message)
        self._direct_read_done(final=final)
        if final:
            self.notify_end()
        return message

    def _direct_read_done(self, *, final: bool) -> None:
        """The application's own read is over, and so is its receive call."""
        after = self._choice.app_read_done(self._clock(), final=final)
        if after is _WAKE_PUMP:
            self._pump_deadline.wake()
        elif after is _START_PUMP:
            self._start_pump()  # it left while we sat idle; it watches again from now

    async def _receive_handed_over(self, step: AppStep) -> Message | None:
        """`receive` when the application is not the reader on entry: a buffered message,
        the pump's next delivery, or the recorded end. ``None``: the choice made the
        application the reader after all (the pump stopped reading), and it reads itself."""
        choice = self._choice
        reads_itself = False
        try:
            waited = False
            while step is not AppStep.BUFFER:
                if step is _DIRECT:
                    reads_itself = True
                    return None
                if step is AppStep.ENDED:
                    # The end was reported (or the block ended): nothing more will arrive,
                    # and the server must not be asked again.
                    raise self._link.exchange.disconnect_error()
                # The pump is reading: wait for what it delivers. A message stays in the
                # buffer until popped below, with no await in between: a cancelled wait
                # consumes nothing.
                await self._data_arrived.wait()
                waited = True
                step = choice.app_step(bool(self._inbound))
            if not waited:
                await trio.lowlevel.checkpoint_if_cancelled()
            inbound = self._inbound
            assert inbound  # BUFFER: not empty, and only this task takes from it
            message = inbound.take()
            self._room_freed.wake()
        finally:
            if not reads_itself and choice.app_leaves(self._clock()):
                self._pump_deadline.wake()
        return message

    async def _pump(self) -> None:
        """Read from the server into the buffer whenever the choice says so, until the
        disconnect (never after it), or leave while the application sits in receive.

        The pump's timed waits share one cancel scope, its *timer*, whose deadline is moved
        from wait to wait (and lifted before a read): entering and leaving a scope is about
        25 Python calls, moving a deadline a handful. A timer whose deadline fired is spent
        (Trio's scopes are single-use): the next wait gets a new one. A read never runs under
        a pending deadline, and the close after an overflow runs outside the timer, so the
        timer can only ever interrupt a wait (or, when the deadline passes just as the
        application wakes the pump, the read that follows, before it consumed anything: the
        server's ``receive`` is atomic, and the pump decides again).
        """
        choice = self._choice
        receive = self._link.receive
        exchange = self._link.exchange
        inbound = self._inbound_queue()
        for_now = False
        overflowed = False
        try:
            while not overflowed:
                with trio.CancelScope() as timer:
                    while True:
                        step, until = choice.pump_step(self._clock(), inbound.waits_for_room)
                        if step is PumpStep.WAIT:
                            if timer.deadline != until:
                                timer.deadline = until
                            if until == math.inf:
                                await self._room_freed.wait()
                            else:
                                await self._pump_deadline.wait()
                            continue
                        if step is not PumpStep.READ:
                            for_now = step is PumpStep.LEAVE
                            return
                        if timer.deadline != math.inf:
                            timer.deadline = math.inf
                        try:
                            message = await receive()
                        except trio.Cancelled:
                            choice.read_done(final=False)
                            raise
                        except BaseException:
                            choice.read_done(final=True)
                            raise
                        if exchange.is_disconnect(message):
                            choice.read_done(final=True)
                            exchange.disconnect_reported(message)
                            inbound.push(message)  # the end always gets in
                            self._data_arrived.wake()
                            self.notify_end()
                            return
                        choice.read_done(final=False)
                        # "block" never offers to a full buffer: pump_step waited for room.
                        if inbound.offer(message) is _OVERFLOWED:  # "close"
                            overflowed = True
                            break
                        self._data_arrived.wake()
                # Here the timer fired (its Cancelled is absorbed by its scope), or the
                # buffer overflowed.
            await self._close_on_overflow(inbound)
        finally:
            choice.pump_leaves(for_now=for_now)
            if not for_now:
                self._data_arrived.wake()

    async def _close_on_overflow(self, inbound: BoundedQueue[Message]) -> None:
        """Close with the overflow code; buffered messages stay readable, then the end."""
        exchange = self._link.exchange
        code = self._options.overflow_close_code
        self._choice.end()  # from now on only this loop reads, to drain the server
        exchange.cut_off(code, _OVERFLOW_REASON)
        inbound.push(exchange.disconnect_message(code, _OVERFLOW_REASON))
        self._data_arrived.wake()
        await self._link.close(code, _OVERFLOW_REASON, self.wait_drained)
        self.notify_end()
        # Keep the server's queue moving until it reports the end, so that it can finish
        # the close handshake; what arrives now is discarded (and counted: the queue has
        # overflowed).
        receive = self._link.receive
        while not exchange.is_disconnect(message := await receive()):
            inbound.offer(message)

    # ------------------------------------------------------------------ sending

    async def enqueue(self, message: Message) -> None:
        """Queue ``message`` for the writer; waits while the outbox is full (cancellable:
        a cancelled wait queued nothing)."""
        assert self._outbox is not None
        await self._outbox.put(message)

    async def wait_drained(self) -> None:
        """Wait until the writer has handed every queued message to the server."""
        if self._outbox is not None:
            await self._outbox.wait_drained()

    async def _writer(self, outbox: _Outbox) -> None:
        link = self._link
        while True:
            message = await outbox.next_message()
            try:
                await link.send_in_turn(message, self._unless_peer_gone)
            except WebSocketDisconnect:
                pass  # the peer left: queued messages are dropped, later sends raise
            finally:
                outbox.message_done()

    def _unless_peer_gone(self, message: Message, waited: bool) -> Message | None:
        return None if self._link.exchange.peer_gone else message


class _Outbox:
    """Structured mode's outbound buffer: a `BoundedQueue` (``"block"``) between the senders
    and the writer task, with the order of sends kept when several senders wait for room.

    A sender that finds the queue full (or other senders already waiting) waits in line
    with its message; when the writer takes a message out, it moves the oldest waiting
    sender's message in and lets that sender return.
    """

    __slots__ = ("_abandoned", "_drained", "_queue", "_waiting_senders", "_writer", "in_flight")

    def __init__(self, capacity: int) -> None:
        self._queue: BoundedQueue[Message] = BoundedQueue(capacity, "block")
        self._waiting_senders: deque[tuple[trio.lowlevel.Task, Message]] = deque()
        self._writer = Wakeup()  # the writer, for a message to send
        self._drained: trio.Event | None = None  # made when somebody waits for the drain
        #: Messages accepted by a send (queued or waiting for room) and not yet sent.
        self.in_flight = 0
        self._abandoned = False

    async def put(self, message: Message) -> None:
        """Queue ``message``, waiting in line while the queue is full.

        Raises:
          trio.BrokenResourceError: the writer is gone (the block ended).

        Cancellation: a cancelled call queued nothing.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._abandoned:
            raise trio.BrokenResourceError("the WebSocket block ended: nothing more is sent")
        self.in_flight += 1
        if not self._waiting_senders and self._queue.offer(message) is _ADDED:
            self._writer.wake()
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        entry = (trio.lowlevel.current_task(), message)
        self._waiting_senders.append(entry)

        def abort(raise_cancel: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            self._waiting_senders.remove(entry)
            self.message_done()
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)
        if self._abandoned:  # woken by abandon(), not by the writer taking the message
            raise trio.BrokenResourceError("the WebSocket block ended: nothing more is sent")

    async def next_message(self) -> Message:
        """The oldest queued message, waiting for one; the writer's only way in."""
        queue = self._queue
        while not queue:
            await self._writer.wait()
        message = queue.take()
        if self._waiting_senders:
            task, waiting = self._waiting_senders.popleft()
            queue.offer(waiting)  # there is room: one was just taken
            trio.lowlevel.reschedule(task)
        return message

    def message_done(self) -> None:
        """One accepted message is sent (or given up)."""
        self.in_flight -= 1
        if self.in_flight == 0 and self._drained is not None:
            self._drained.set()
            self._drained = None

    async def wait_drained(self) -> None:
        """Wait until nothing accepted is left unsent."""
        while self.in_flight > 0:
            if self._drained is None:
                self._drained = trio.Event()
            await self._drained.wait()

    def abandon(self) -> None:
        """The writer is gone: what it had not sent is dropped, senders waiting for room get
        ``trio.BrokenResourceError``, drain waiters are released."""
        self._abandoned = True
        self._queue.take_all()
        while self._waiting_senders:
            task, _ = self._waiting_senders.popleft()
            trio.lowlevel.reschedule(task)
        self.in_flight = 0
        if self._drained is not None:
            self._drained.set()
            self._drained = None

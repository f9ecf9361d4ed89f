"""``Subscriber``: one subscription's bounded buffer, its overflow policy and its counters.

The publishing side calls `Subscriber.offer` (never waits) or, for ``overflow="block"``
only, `Subscriber.put` (waits for room). The subscribing side iterates. Neither side
holds a task of its own: a full buffer is handled by the publisher's call, an empty one by the
one reading task, parked by trio's low-level wait and woken by the next message.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import TYPE_CHECKING, Final, final

import attrs
import trio

from ._exceptions import BroadcastGap, SubscriberOverflow

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._options import OverflowPolicy
    from ._event import BroadcastEvent

__all__ = ["Subscriber", "SubscriberStatistics"]


class _Gap(enum.Enum):
    """A marker in the buffer: the link to the backend was lost at this point."""

    GAP = enum.auto()


_GAP: Final = _Gap.GAP


class _State(enum.Enum):
    OPEN = "open"  # messages flow in
    OVERFLOWED = "overflowed"  # overflow="close" tripped: the rest is counted as missed
    ENDED = "ended"  # the subscription block or the broadcast is over


@attrs.frozen
class SubscriberStatistics:
    """A snapshot of one subscriber's counters.

    Attributes:
      delivered: messages handed to the subscriber's loop.
      dropped: messages this subscriber lost to its overflow policy (``"drop_oldest"``
        discards the oldest buffered one; ``"close"`` counts every one it missed).
      buffered: messages waiting in the buffer now.
      buffer: the buffer's size.
      gaps: how many times the link to the backend was lost while subscribed.
    """

    delivered: int
    dropped: int
    buffered: int
    buffer: int
    gaps: int


@final
class Subscriber:
    """One subscription to a channel; an async iterator of `BroadcastEvent`.

    Made by `Broadcast.subscribe`; iterate it inside that block::

        async with broadcast.subscribe("room") as subscriber:
            async for event in subscriber:
                print(event.channel, event.message)

    The loop ends when the broadcast itself closes. It is a plain object with ``__anext__``,
    so a cancelled step loses nothing and the subscriber stays usable.
    """

    __slots__ = (
        "_buffer",
        "_capacity",
        "_channel",
        "_delivered",
        "_dropped",
        "_events",
        "_gaps",
        "_overflow",
        "_reader",
        "_room",
        "_state",
        "direct",
    )

    def __init__(self, channel: str, buffer: int, overflow: OverflowPolicy) -> None:
        self._channel = channel
        self._capacity = buffer
        self._overflow: OverflowPolicy = overflow
        self._buffer: deque[BroadcastEvent | _Gap] = deque()
        self._events = 0  # messages in _buffer (gap markers excluded)
        self._delivered = 0
        self._dropped = 0
        self._gaps = 0
        self._state = _State.OPEN
        self._reader: trio.lowlevel.Task | None = None  # the iterating task, while it waits
        self._room = trio.lowlevel.ParkingLot()
        #: Set while forwarding to a websocket (`_fanout.direct_delivery`): tries to write a
        #: message straight to the socket; ``False`` means "buffer it as usual".
        self.direct: Callable[[BroadcastEvent], bool] | None = None

    def __repr__(self) -> str:
        return (
            f"<Subscriber {self._channel!r} {self._state.value} "
            f"buffered={self._events}/{self._capacity} overflow={self._overflow!r}>"
        )

    @property
    def channel(self) -> str:
        """The channel this subscriber listens to."""
        return self._channel

    @property
    def overflow(self) -> OverflowPolicy:
        """The subscriber's overflow policy."""
        return self._overflow

    def statistics(self) -> SubscriberStatistics:
        """A snapshot of the subscriber's counters."""
        return SubscriberStatistics(
            delivered=self._delivered,
            dropped=self._dropped,
            buffered=self._events,
            buffer=self._capacity,
            gaps=self._gaps,
        )

    # ------------------------------------------------------------------ the publishing side

    def offer(self, event: BroadcastEvent) -> bool:
        """Add ``event`` without waiting, applying the overflow policy when the buffer is full.

        Returns ``False`` only for a ``"block"`` subscriber whose buffer is full: the caller
        must then ``await put(event)``.
        """
        direct = self.direct
        if direct is not None and not self._buffer and self._state is _State.OPEN and direct(event):
            self._delivered += 1  # written straight to the socket (`_fanout`)
            return True
        if self._state is _State.ENDED:
            return True
        if self._state is _State.OVERFLOWED:
            self._dropped += 1
            return True
        if self._events >= self._capacity:
            if self._overflow == "block":
                return False
            if self._overflow == "close":
                self._state = _State.OVERFLOWED
                self._dropped += 1
                self._wake_reader()
                return True
            self._drop_oldest()
        self._append(event)
        return True

    async def put(self, event: BroadcastEvent) -> None:
        """Wait for room in the buffer, then add ``event`` (for ``overflow="block"``).

        Returns at once, without adding, if the subscription ends meanwhile.

        Cancellation:
          If cancelled, ``event`` was not added.
        """
        while self._state is _State.OPEN and self._events >= self._capacity:
            await self._room.park()
        if self._state is _State.OPEN:
            self._append(event)

    def mark_gap(self) -> None:
        """Record that the link to the backend was lost here (one marker per outage)."""
        if self._state is not _State.OPEN:
            return
        self._gaps += 1
        if not self._buffer or self._buffer[-1] is not _GAP:
            self._buffer.append(_GAP)
            self._wake_reader()

    def forget_gaps(self) -> None:
        """Drop the gap markers so far: they predate the subscription being confirmed."""
        if self._gaps:
            self._buffer = deque(item for item in self._buffer if not isinstance(item, _Gap))
            self._gaps = 0

    def replace_buffer(self, events: list[BroadcastEvent]) -> None:
        """Put ``events`` (history, then live messages) in the buffer, oldest first.

        Beyond the buffer's size the oldest are dropped (and counted), whatever the policy:
        history is never worth blocking or closing for.
        """
        excess = max(0, len(events) - self._capacity)
        self._dropped += excess
        self._buffer = deque(events[excess:])
        self._events = len(self._buffer)
        if self._buffer:
            self._wake_reader()

    def take_buffered(self) -> list[BroadcastEvent]:
        """Remove and return the buffered messages (gap markers are discarded)."""
        taken = [item for item in self._buffer if not isinstance(item, _Gap)]
        self._buffer.clear()
        self._events = 0
        self._room.unpark_all()
        return taken

    def end(self) -> None:
        """End the subscription: iteration returns what is buffered, then stops."""
        if self._state is _State.OPEN:
            self._state = _State.ENDED
        self._wake_reader()
        self._room.unpark_all()

    def _append(self, event: BroadcastEvent) -> None:
        self._buffer.append(event)
        self._events += 1
        self._wake_reader()

    def _wake_reader(self) -> None:
        reader = self._reader
        if reader is not None:
            self._reader = None
            trio.lowlevel.reschedule(reader)

    def _abort_wait(self, raise_cancel: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        self._reader = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _drop_oldest(self) -> None:
        if self._buffer[0] is not _GAP:
            self._buffer.popleft()
            self._events -= 1
            self._dropped += 1
            return
        for index, item in enumerate(self._buffer):
            if item is not _GAP:
                del self._buffer[index]
                self._events -= 1
                self._dropped += 1
                return

    # ------------------------------------------------------------------ the subscribing side

    def __aiter__(self) -> Subscriber:
        return self

    async def __anext__(self) -> BroadcastEvent:
        """The next message.

        Raises:
          StopAsyncIteration: the broadcast closed (after the buffered messages), or the
            subscriber already raised `SubscriberOverflow`.
          SubscriberOverflow: ``overflow="close"`` and the subscriber fell behind; raised
            once, after the messages buffered before the overflow.
          BroadcastGap: the link to the backend was lost here (Redis); the subscriber stays
            usable: keep iterating.
          trio.BusyResourceError: another task is iterating this subscriber.

        Cancellation:
          Atomic: if this raises ``trio.Cancelled``, no message was taken.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        waited = False
        while not self._buffer:
            if self._state is _State.OVERFLOWED:
                missed = self._dropped
                self._state = _State.ENDED
                raise SubscriberOverflow(self._channel, missed)
            if self._state is _State.ENDED:
                raise StopAsyncIteration
            if self._reader is not None:
                raise trio.BusyResourceError("another task is already iterating this subscriber")
            self._reader = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(self._abort_wait)
            waited = True
        item = self._buffer.popleft()
        if item is _GAP:
            raise BroadcastGap(self._channel)
        self._events -= 1
        self._delivered += 1
        if self._overflow == "block":
            self._room.unpark()
        if not waited:  # the wait was this call's schedule point
            await trio.lowlevel.cancel_shielded_checkpoint()
        return item

"""``Subscriber``: one subscription's bounded buffer, its overflow policy and its counters.

The publishing side calls `Subscriber.offer` (never waits) or, for ``overflow="block"``
only, `Subscriber.put` (waits for room). The subscribing side iterates. Neither side
holds a task of its own: a full buffer is handled by the publisher's call, an empty one by the
one reading task, parked by trio's low-level wait and woken by the next message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, final

import attrs
import trio

from .._bounded_queue import BoundedQueue, Offer, QueueState
from .._wakeup import Wakeup
from ._exceptions import BroadcastGap, SubscriberOverflow

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._options import OverflowPolicy
    from ._event import BroadcastEvent

__all__ = ["Subscriber", "SubscriberStatistics"]

# Enum members as module constants (an Enum class attribute costs ~0.15 µs on Python 3.11;
# offer() runs once per message and subscriber).
_ADDED: Final = Offer.ADDED
_OVERFLOWED: Final = Offer.OVERFLOWED
_FULL: Final = Offer.FULL
_QUEUE_OPEN: Final = QueueState.OPEN


@attrs.frozen
class SubscriberStatistics:
    """A snapshot of one subscriber's counters.

    Attributes:
      delivered: messages handed to the subscriber's loop.
      dropped: messages this subscriber lost to its overflow policy (``"drop_oldest"``
        discards the oldest buffered one; ``"close"`` counts every one it missed).
      buffered: messages waiting in the buffer now.
      buffer: the buffer's size.
      gaps: how many `BroadcastGap`s the subscriber had: the link to the backend was lost
        while subscribed, or ``since=`` was older than the history.
    """

    delivered: int
    dropped: int
    buffered: int
    buffer: int
    gaps: int


@final
class Subscriber:
    """One subscription to a channel; an async iterator of `BroadcastEvent`.

    Made by `Broadcast.subscribe`; iterate it inside that block:

        async with broadcast.subscribe("room") as subscriber:
            async for event in subscriber:
                print(event.channel, event.message)

    The loop ends when the broadcast itself closes. It is a plain object with ``__anext__``,
    so a cancelled step loses nothing and the subscriber stays usable.
    """

    __slots__ = (
        "_channel",
        "_direct_sent",
        "_gaps",
        "_gaps_seen",
        "_queue",
        "_reader",
        "_room",
        "direct",
    )

    def __init__(self, channel: str, buffer: int, overflow: OverflowPolicy) -> None:
        self._channel = channel
        self._queue: BoundedQueue[BroadcastEvent] = BoundedQueue(buffer, overflow)
        # Where the link to the backend was lost: each entry is the number of messages
        # queued before the loss, so the gap comes before the message queued next. ``None``
        # while there is none: most subscribers never see a gap, and an empty list is 56 bytes.
        self._gaps: list[int] | None = None
        self._gaps_seen = 0
        self._reader = Wakeup()  # the iterating task waits here for a message or the end
        self._room = trio.lowlevel.ParkingLot()
        #: Set while forwarding to a websocket (`_fanout.direct_delivery`): tries to write a
        #: message straight to the socket; ``False`` means "buffer it as usual".
        self.direct: Callable[[BroadcastEvent], bool] | None = None
        self._direct_sent = 0

    def __repr__(self) -> str:
        queue = self._queue
        return (
            f"<Subscriber {self._channel!r} {queue.state.value} "
            f"buffered={len(queue)}/{queue.capacity} overflow={queue.policy!r}>"
        )

    @property
    def channel(self) -> str:
        """The channel this subscriber listens to."""
        return self._channel

    @property
    def overflow(self) -> OverflowPolicy:
        """The subscriber's overflow policy."""
        return self._queue.policy

    def statistics(self) -> SubscriberStatistics:
        """A snapshot of the subscriber's counters."""
        queue = self._queue
        return SubscriberStatistics(
            delivered=queue.taken + self._direct_sent,
            dropped=queue.dropped,
            buffered=len(queue),
            buffer=queue.capacity,
            gaps=self._gaps_seen,
        )

    # ------------------------------------------------------------------ the publishing side

    def offer(self, event: BroadcastEvent) -> bool:
        """Add ``event`` without waiting, applying the overflow policy when the buffer is full.

        Returns ``False`` only for a ``"block"`` subscriber whose buffer is full: the caller
        must then ``await put(event)``.
        """
        queue = self._queue
        direct = self.direct
        if (
            direct is not None
            and not queue
            and not self._gaps
            and queue.state is _QUEUE_OPEN
            and direct(event)
        ):
            self._direct_sent += 1  # written straight to the socket (`_fanout`)
            return True
        offered = queue.offer(event)
        if offered is _ADDED or offered is _OVERFLOWED:
            self._reader.wake()
        return offered is not _FULL

    async def put(self, event: BroadcastEvent) -> None:
        """Wait for room in the buffer, then add ``event`` (for ``overflow="block"``).

        Returns at once, without adding, if the subscription ends meanwhile.

        Cancellation:
          If cancelled, ``event`` was not added.
        """
        while self._queue.waits_for_room:
            await self._room.park()
        if self._queue.offer(event) is Offer.ADDED:
            self._reader.wake()

    def mark_gap(self) -> None:
        """Record that the link to the backend was lost here (one marker per outage)."""
        queue = self._queue
        if queue.state is not QueueState.OPEN:
            return
        self._gaps_seen += 1
        gaps = self._gaps
        if not gaps:
            self._gaps = [queue.added]
            self._reader.wake()
        elif gaps[-1] != queue.added:
            gaps.append(queue.added)
            self._reader.wake()

    def forget_gaps(self) -> None:
        """Drop the gap markers so far: they predate the subscription being confirmed."""
        self._gaps = None
        self._gaps_seen = 0

    def replace_buffer(self, events: list[BroadcastEvent], *, gap: bool = False) -> None:
        """Put ``events`` (history, then live messages) in the buffer, oldest first.

        Beyond the buffer's size the oldest are dropped (and counted), whatever the policy:
        history is never worth blocking or closing for. Gap markers go with the old content;
        with ``gap``, a `BroadcastGap` comes first (messages before ``events`` are missing from
        the history).
        """
        self._gaps = None
        queue = self._queue
        queue.replace(events)
        if gap:
            self._gaps_seen += 1
            self._gaps = [queue.added - len(queue)]
        if queue or gap:
            self._reader.wake()

    def take_buffered(self) -> list[BroadcastEvent]:
        """Remove and return the buffered messages (gap markers are discarded)."""
        self._gaps = None
        taken = self._queue.take_all()
        self._room.unpark_all()
        return taken

    def end(self) -> None:
        """End the subscription: iteration returns what is buffered, then stops."""
        if self._queue.state is QueueState.OPEN:
            self._queue.end()
        self._reader.wake()
        self._room.unpark_all()

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
        queue = self._queue
        if queue and not self._gaps:
            # The schedule point, while the message is still buffered: a message taken and
            # then held over a yield could be overtaken by a newer one written straight to
            # the socket (`_fanout`'s direct path is only taken with nothing buffered).
            await trio.lowlevel.cancel_shielded_checkpoint()
        while not queue or self._gaps:
            gaps = self._gaps  # a gap comes before the oldest buffered message (or there is none)
            if gaps and gaps[0] <= queue.added - len(queue):
                self._gaps = gaps[1:] or None
                raise BroadcastGap(self._channel)
            if queue:
                break
            if queue.state is QueueState.OVERFLOWED:
                queue.end()
                raise SubscriberOverflow(self._channel, queue.dropped)
            if queue.state is QueueState.ENDED:
                raise StopAsyncIteration
            if self._reader.waiting:
                raise trio.BusyResourceError("another task is already iterating this subscriber")
            await self._reader.wait()
        item = queue.take()
        if queue.policy == "block":
            self._room.unpark()
        return item

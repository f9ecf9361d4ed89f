"""``PresenceDiff`` and the bounded buffer that carries them to one tracker's loop."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, final

import attrs
import trio

from ._exceptions import SubscriberOverflow
from ._subscriber import SubscriberStatistics

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .._options import OverflowPolicy
    from ._presence_store import Member

__all__ = ["DiffLog", "DiffQueue", "PresenceDiff", "diff_of"]


@attrs.frozen(hash=False)  # holds dicts: not hashable
class PresenceDiff:
    """Who joined and who left a channel since the previous diff.

    Both are shaped like `Presence.list`: ``{key: [meta, ...]}``, one meta per tracking
    connection (a key tracked from two tabs joins twice, with its two metas).

    Attributes:
      joins: the connections that appeared.
      leaves: the connections that left (or whose process stopped heart-beating and expired).
    """

    joins: dict[str, list[Any]]
    leaves: dict[str, list[Any]]


def _group(members: Iterable[Member]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for member in members:
        grouped.setdefault(member.key, []).append(member.meta)
    return grouped


def diff_of(joins: list[Member], leaves: list[Member]) -> PresenceDiff | None:
    """The diff of these effective changes; ``None`` when there are none."""
    if not joins and not leaves:
        return None
    return PresenceDiff(joins=_group(joins), leaves=_group(leaves))


@final
class DiffLog:
    """The diffs of one channel in this process, shared by its trackers' `DiffQueue`s.

    Appending a diff is O(1) whatever the number of local trackers (each queue is a cursor
    into this log), except for the queues that chose ``"block"`` or ``"close"``, which are
    checked on every append. The log keeps the last ``retention`` diffs, the largest buffer
    of the queues attached so far.
    """

    __slots__ = ("_blockers", "_closers", "_entries", "_readers", "_retention", "_room",
                 "_start")  # fmt: skip

    def __init__(self) -> None:
        self._entries: deque[PresenceDiff] = deque()
        self._start = 0  # the sequence number of _entries[0]
        self._retention = 1
        self._blockers: set[DiffQueue] = set()
        self._closers: set[DiffQueue] = set()
        self._readers = trio.lowlevel.ParkingLot()  # queues' readers waiting for a diff
        self._room = trio.lowlevel.ParkingLot()  # appenders waiting for a "block" queue

    @property
    def head(self) -> int:
        """The sequence number the next diff will have."""
        return self._start + len(self._entries)

    def last(self, count: int) -> deque[PresenceDiff]:
        """A copy of the newest ``count`` diffs."""
        if count <= 0:
            return deque()
        return deque(list(self._entries)[-count:])

    def entry(self, number: int) -> PresenceDiff:
        return self._entries[number - self._start]

    def attach(self, queue: DiffQueue) -> None:
        self._retention = max(self._retention, queue.capacity)
        if queue.overflow == "block":
            self._blockers.add(queue)
        elif queue.overflow == "close":
            self._closers.add(queue)

    def detach(self, queue: DiffQueue) -> None:
        self._blockers.discard(queue)
        self._closers.discard(queue)
        self.wake_all()

    def wake_all(self) -> None:
        self._readers.unpark_all()
        self._room.unpark_all()

    async def append(self, diff: PresenceDiff) -> None:
        """Add ``diff`` for every attached queue; waits only while a ``"block"`` one is full.

        Cancellation:
          If cancelled (only possible while waiting for a ``"block"`` queue), ``diff`` was
          not added.
        """
        while any(queue.behind() >= queue.capacity for queue in self._blockers):
            await self._room.park()
        for queue in list(self._closers):
            if queue.behind() >= queue.capacity:
                queue.overflow_now()  # takes its buffered diffs before they can be trimmed
        self._entries.append(diff)
        while len(self._entries) > self._retention:
            self._entries.popleft()
            self._start += 1
        self._readers.unpark_all()

    async def wait_for_diff(self) -> None:
        """Wait until a diff is appended or a queue detaches.

        Cancellation:
          Safe: nothing is taken while waiting.
        """
        await self._readers.park()

    def taken(self) -> None:
        """A queue took a diff: a ``"block"`` appender may go on."""
        if self._blockers:
            self._room.unpark_all()


@final
class DiffQueue:
    """One tracker's diffs: a bounded window on the channel's `DiffLog`, read by one task.

    ``"drop_oldest"`` skips to the newest ``buffer`` diffs when the loop falls behind
    (`Presence.list` stays exact: only the history of changes has a hole); ``"close"`` ends
    the iteration with `SubscriberOverflow` after the buffered diffs; ``"block"`` makes the
    process's presence updates for the channel wait for room.
    """

    __slots__ = ("_channel", "_cursor", "_delivered", "_dropped", "_gaps", "_log",
                 "_missed_from", "_overflowed", "_raised", "_reading", "_tail", "capacity",
                 "overflow")  # fmt: skip

    def __init__(self, log: DiffLog, channel: str, buffer: int, overflow: OverflowPolicy) -> None:
        self._log = log
        self._channel = channel
        self.capacity = buffer
        self.overflow: OverflowPolicy = overflow
        self._cursor = log.head  # the next diff this queue reads from the log
        self._tail: deque[PresenceDiff] | None = None  # detached: what is left to read
        self._delivered = 0
        self._dropped = 0
        self._gaps = 0
        self._overflowed = False
        self._raised = False
        self._missed_from = 0  # the log's head when a "close" queue overflowed
        self._reading = False

    def attach(self) -> None:
        """Start receiving the diffs appended from now on."""
        self._cursor = self._log.head
        self._log.attach(self)

    def behind(self) -> int:
        """How many diffs of the log this (attached) queue has not read."""
        return self._log.head - self._cursor

    def _skip_dropped(self) -> None:
        excess = self.behind() - self.capacity
        if excess > 0:
            self._cursor += excess
            self._dropped += excess

    def _detach_with_buffer(self) -> None:
        self._skip_dropped()
        self._tail = self._log.last(self.behind())
        self._log.detach(self)

    def statistics(self) -> SubscriberStatistics:
        """A snapshot of the counters (``gaps``: resyncs after a lost link or lost diffs)."""
        if self._tail is None:
            self._skip_dropped()
        missed = self._log.head - self._missed_from if self._overflowed and not self._raised else 0
        return SubscriberStatistics(
            delivered=self._delivered,
            dropped=self._dropped + missed,
            buffered=self.behind() if self._tail is None else len(self._tail),
            buffer=self.capacity,
            gaps=self._gaps,
        )

    def count_gap(self) -> None:
        self._gaps += 1

    def overflow_now(self) -> None:
        """``"close"``: keep the buffered diffs; the one being appended is the first missed."""
        self._detach_with_buffer()
        self._overflowed = True
        self._missed_from = self._log.head

    def end(self) -> None:
        """No more diffs: iteration returns what is buffered, then stops."""
        if self._tail is None:
            self._detach_with_buffer()

    def __aiter__(self) -> DiffQueue:
        return self

    async def __anext__(self) -> PresenceDiff:
        """The next diff.

        Raises:
          StopAsyncIteration: the tracking block or the broadcast ended (after the buffered
            diffs).
          SubscriberOverflow: ``overflow="close"`` and the loop fell ``buffer`` diffs
            behind; raised once, after the diffs buffered before.
          trio.BusyResourceError: another task is iterating these diffs.

        Cancellation:
          Atomic: if this raises ``trio.Cancelled``, no diff was taken.
        """
        if self._reading:
            raise trio.BusyResourceError("another task is already iterating these diffs")
        self._reading = True
        try:
            return await self._next()
        finally:
            self._reading = False

    async def _next(self) -> PresenceDiff:
        await trio.lowlevel.checkpoint_if_cancelled()
        waited = False
        while True:
            if self._tail is not None:
                if self._tail:
                    diff = self._tail.popleft()
                    break
                if self._overflowed and not self._raised:
                    self._raised = True
                    self._dropped += self._log.head - self._missed_from
                    raise SubscriberOverflow(self._channel, self._dropped)
                raise StopAsyncIteration
            self._skip_dropped()
            if self._cursor < self._log.head:
                diff = self._log.entry(self._cursor)
                self._cursor += 1
                self._log.taken()
                break
            await self._log.wait_for_diff()
            waited = True
        self._delivered += 1
        if not waited:  # the wait was this call's schedule point
            await trio.lowlevel.cancel_shielded_checkpoint()
        return diff

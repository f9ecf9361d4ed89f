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

__all__ = ["DiffQueue", "PresenceDiff", "diff_of"]


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
class DiffQueue:
    """One tracker's diffs: a bounded buffer with an overflow policy, iterated by one task.

    ``"drop_oldest"`` drops the oldest buffered diff (`Presence.list` stays exact: only
    the history of changes has a hole); ``"close"`` ends the iteration with
    `SubscriberOverflow` after the buffered diffs; ``"block"`` makes the process's presence
    updates for the channel wait for room. Offering never waits (a deque, no channel), so a
    tracker that never reads its diffs costs the others next to nothing.
    """

    __slots__ = ("_buffer", "_capacity", "_channel", "_delivered", "_dropped", "_ended",
                 "_gaps", "_overflow", "_overflowed", "_raised", "_reader", "_room")  # fmt: skip

    def __init__(self, channel: str, buffer: int, overflow: OverflowPolicy) -> None:
        self._channel = channel
        self._capacity = buffer
        self._overflow: OverflowPolicy = overflow
        self._buffer: deque[PresenceDiff] = deque()
        self._delivered = 0
        self._dropped = 0
        self._gaps = 0
        self._ended = False
        self._overflowed = False
        self._raised = False
        self._reader: trio.lowlevel.Task | None = None
        self._room = trio.lowlevel.ParkingLot()

    def statistics(self) -> SubscriberStatistics:
        """A snapshot of the counters (``gaps``: resyncs after a lost link or lost diffs)."""
        return SubscriberStatistics(
            delivered=self._delivered,
            dropped=self._dropped,
            buffered=len(self._buffer),
            buffer=self._capacity,
            gaps=self._gaps,
        )

    def count_gap(self) -> None:
        self._gaps += 1

    def offer(self, diff: PresenceDiff) -> bool:
        """Add without waiting; ``False`` for a full ``"block"`` queue (then ``await put``)."""
        if self._ended:
            if self._overflowed:
                self._dropped += 1
            return True
        if len(self._buffer) >= self._capacity:
            if self._overflow == "block":
                return False
            self._dropped += 1
            if self._overflow == "close":
                self._overflowed = self._ended = True
                self._wake()
                return True
            self._buffer.popleft()
        self._buffer.append(diff)
        self._wake()
        return True

    async def put(self, diff: PresenceDiff) -> None:
        """Wait for room, then add (``"block"``); returns without adding if the queue ended.

        Cancellation:
          If cancelled, ``diff`` was not added.
        """
        while not self._ended and len(self._buffer) >= self._capacity:
            await self._room.park()
        if not self._ended:
            self._buffer.append(diff)
            self._wake()

    def end(self) -> None:
        """No more diffs: iteration returns what is buffered, then stops."""
        self._ended = True
        self._wake()
        self._room.unpark_all()

    def _wake(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            trio.lowlevel.reschedule(reader)

    def _abort(self, raise_cancel: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        self._reader = None
        return trio.lowlevel.Abort.SUCCEEDED

    def __aiter__(self) -> DiffQueue:
        return self

    async def __anext__(self) -> PresenceDiff:
        """The next diff.

        Raises:
          StopAsyncIteration: the tracking block or the broadcast ended.
          SubscriberOverflow: ``overflow="close"`` and the loop fell ``buffer`` diffs
            behind; raised once, after the diffs buffered before.
          trio.BusyResourceError: another task is iterating these diffs.

        Cancellation:
          Atomic: if this raises ``trio.Cancelled``, no diff was taken.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        waited = False
        while not self._buffer:
            if self._ended:
                if self._overflowed and not self._raised:
                    self._raised = True
                    raise SubscriberOverflow(self._channel, self._dropped)
                raise StopAsyncIteration
            if self._reader is not None:
                raise trio.BusyResourceError("another task is already iterating these diffs")
            self._reader = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(self._abort)
            waited = True
        diff = self._buffer.popleft()
        self._delivered += 1
        self._room.unpark()
        if not waited:  # the wait was this call's schedule point
            await trio.lowlevel.cancel_shielded_checkpoint()
        return diff

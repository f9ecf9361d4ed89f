"""``PresenceDiff`` and the bounded buffer that carries them to one tracker's loop."""

from __future__ import annotations

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


@attrs.frozen
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
    updates for the channel wait for room.
    """

    def __init__(self, channel: str, buffer: int, overflow: OverflowPolicy) -> None:
        self._channel = channel
        self._capacity = buffer
        self._overflow: OverflowPolicy = overflow
        self._send, self._receive = trio.open_memory_channel[PresenceDiff](buffer)
        self._delivered = 0
        self._dropped = 0
        self._gaps = 0
        self._overflowed = False
        self._raised = False

    def statistics(self) -> SubscriberStatistics:
        """A snapshot of the counters (``gaps``: resyncs after a lost link or lost diffs)."""
        return SubscriberStatistics(
            delivered=self._delivered,
            dropped=self._dropped,
            buffered=self._receive.statistics().current_buffer_used,
            buffer=self._capacity,
            gaps=self._gaps,
        )

    def count_gap(self) -> None:
        self._gaps += 1

    def offer(self, diff: PresenceDiff) -> bool:
        """Add without waiting; ``False`` for a full ``"block"`` queue (then ``await put``)."""
        if self._overflowed:
            self._dropped += 1
            return True
        try:
            self._send.send_nowait(diff)
        except trio.WouldBlock:
            if self._overflow == "block":
                return False
            self._dropped += 1
            if self._overflow == "close":
                self._overflowed = True
                self._send.close()
                return True
            self._receive.receive_nowait()
            self._send.send_nowait(diff)
        except trio.ClosedResourceError:
            pass  # ended
        return True

    async def put(self, diff: PresenceDiff) -> None:
        """Wait for room, then add (``"block"``); returns without adding if the queue ended.

        Cancellation:
          If cancelled, ``diff`` was not added.
        """
        try:
            await self._send.send(diff)
        except trio.ClosedResourceError:
            pass

    def end(self) -> None:
        """No more diffs: iteration returns what is buffered, then stops."""
        self._send.close()

    def __aiter__(self) -> DiffQueue:
        return self

    async def __anext__(self) -> PresenceDiff:
        """The next diff.

        Raises:
          StopAsyncIteration: the tracking block or the broadcast ended.
          SubscriberOverflow: ``overflow="close"`` and the loop fell ``buffer`` diffs
            behind; raised once, after the diffs buffered before.

        Cancellation:
          Atomic: if this raises ``trio.Cancelled``, no diff was taken.
        """
        try:
            diff = await self._receive.receive()
        except trio.EndOfChannel:
            if self._overflowed and not self._raised:
                self._raised = True
                raise SubscriberOverflow(self._channel, self._dropped) from None
            raise StopAsyncIteration from None
        self._delivered += 1
        return diff

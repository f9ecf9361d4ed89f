"""``BROADCAST_TALLY``: this process's broadcast counters, for metrics.

Each `Subscriber` counts its own deliveries, drops and gaps. The tally knows the live
subscribers (between `join` and `leave`, which ``Broadcast.subscribe`` pairs) and adds up the
counters of the ended ones, so that a scrape can report totals that only grow: the ended
subscriptions' counts plus the live ones' current counts. Nothing here runs per message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

import attrs

if TYPE_CHECKING:
    from ._subscriber import Subscriber

__all__ = ["BROADCAST_TALLY", "BroadcastTally", "BroadcastTotals"]


@attrs.frozen
class BroadcastTotals:
    """The broadcast counters of this process, over every subscription so far.

    Attributes:
      delivered: messages handed to subscribers' loops.
      dropped: messages subscribers lost to their overflow policy.
      gaps: times a subscriber's link to the backend was lost (messages may be missing).
      subscribers: subscriptions open now.
    """

    delivered: int
    dropped: int
    gaps: int
    subscribers: int


@final
class BroadcastTally:
    """The live subscribers of this process and the counts of the ended ones."""

    __slots__ = ("_delivered", "_dropped", "_gaps", "_live")

    def __init__(self) -> None:
        self._live: set[Subscriber] = set()
        self._delivered = 0
        self._dropped = 0
        self._gaps = 0

    def join(self, subscriber: Subscriber) -> None:
        """Count ``subscriber`` from now on."""
        self._live.add(subscriber)

    def leave(self, subscriber: Subscriber) -> None:
        """``subscriber`` ended: keep its final counts."""
        if subscriber in self._live:
            self._live.discard(subscriber)
            statistics = subscriber.statistics()
            self._delivered += statistics.delivered
            self._dropped += statistics.dropped
            self._gaps += statistics.gaps

    def totals(self) -> BroadcastTotals:
        """The counters now: ended subscriptions plus the live ones."""
        delivered, dropped, gaps = self._delivered, self._dropped, self._gaps
        live = list(self._live)
        for subscriber in live:
            statistics = subscriber.statistics()
            delivered += statistics.delivered
            dropped += statistics.dropped
            gaps += statistics.gaps
        return BroadcastTotals(delivered, dropped, gaps, len(live))


#: The tally of this process (every `Broadcast` reports here).
BROADCAST_TALLY = BroadcastTally()

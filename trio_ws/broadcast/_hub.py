"""``Hub``: the local fan-out from channels to the subscribers of this process.

Both backends deliver through one hub: the memory backend directly from ``publish``, the Redis
backend from its one subscription connection. Delivery never waits for a subscriber, except
for subscribers that chose ``overflow="block"``.

Where history is on, events carry positions that grow per channel, and the hub delivers each
position at most once and in order: an event at or below the channel's last delivered
position is a duplicate (replayed after an outage, or a live copy of a message a history
replay already gave) and is dropped. A subscriber that was given history when it joined has a
*floor*: live events up to the last one it replayed are not given to it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._event import BroadcastEvent
    from ._subscriber import Subscriber

__all__ = ["Hub"]


@final
class Hub:
    """The subscribers of this process, by channel."""

    __slots__ = ("_channels", "_floors", "_last")

    def __init__(self) -> None:
        # a dict as an ordered set: delivery follows subscription order
        self._channels: dict[str, dict[Subscriber, None]] = {}
        self._last: dict[str, tuple[int, int]] = {}  # the newest position delivered
        self._floors: dict[str, dict[Subscriber, tuple[int, int]]] = {}

    def last_position(self, channel: str) -> tuple[int, int] | None:
        """The position of the newest event delivered on ``channel`` (with history on)."""
        return self._last.get(channel)

    def set_floor(self, subscriber: Subscriber, position: tuple[int, int]) -> None:
        """Do not give ``subscriber`` live events at or below ``position`` (it has them)."""
        self._floors.setdefault(subscriber.channel, {})[subscriber] = position

    def channels(self) -> list[str]:
        """The channels that have at least one subscriber."""
        return list(self._channels)

    def add(self, subscriber: Subscriber) -> bool:
        """Register ``subscriber``; ``True`` if its channel had no subscriber before."""
        members = self._channels.get(subscriber.channel)
        if members is None:
            self._channels[subscriber.channel] = {subscriber: None}
            return True
        members[subscriber] = None
        return False

    def remove(self, subscriber: Subscriber) -> bool:
        """Unregister ``subscriber``; ``True`` if its channel has no subscriber left."""
        members = self._channels.get(subscriber.channel)
        if members is None:
            return False
        members.pop(subscriber, None)
        floors = self._floors.get(subscriber.channel)
        if floors is not None:
            floors.pop(subscriber, None)
            if not floors:
                del self._floors[subscriber.channel]
        if members:
            return False
        del self._channels[subscriber.channel]
        self._last.pop(subscriber.channel, None)
        return True

    def subscribers(self, channel: str) -> Iterable[Subscriber]:
        """A snapshot of the subscribers of ``channel``."""
        return list(self._channels.get(channel, ()))

    async def deliver(self, event: BroadcastEvent) -> None:
        """Give ``event`` to every subscriber of its channel.

        Waits only for subscribers with ``overflow="block"`` and a full buffer, one after
        the other. An event at or below the channel's last delivered position is dropped.

        Cancellation:
          Only possible while waiting for a blocking subscriber; the subscribers before it
          have the message, it and the ones after it do not.
        """
        channel = event.channel
        members = self._channels.get(channel)
        if not members:
            return
        position = event.position
        if position is None:
            receivers: Iterable[Subscriber] = list(members)
        else:
            last = self._last.get(channel)
            if last is not None and position <= last:
                return  # delivered already
            self._last[channel] = position
            receivers = self._above_floors(channel, list(members), position)
        waiting = [sub for sub in receivers if not sub.offer(event)]
        for subscriber in waiting:
            await subscriber.put(event)

    def _above_floors(
        self, channel: str, members: list[Subscriber], position: tuple[int, int]
    ) -> list[Subscriber]:
        """``members`` without those whose floor is at or above ``position``; floors below
        it are done with (positions only grow) and are forgotten."""
        floors = self._floors.get(channel)
        if floors is None:
            return members
        covered = {sub for sub, floor in floors.items() if position <= floor}
        for subscriber in [sub for sub in floors if sub not in covered]:
            del floors[subscriber]
        if not floors:
            del self._floors[channel]
        return [sub for sub in members if sub not in covered]

    def mark_gap(self, channels: Iterable[str] | None = None) -> None:
        """Tell the subscribers of ``channels`` (default: every channel) that messages may
        have been missed from here on."""
        names = self._channels if channels is None else channels
        for channel in names:
            for subscriber in self._channels.get(channel, ()):
                subscriber.mark_gap()

    def end_all(self) -> None:
        """End every subscription (the broadcast is closing)."""
        for members in self._channels.values():
            for subscriber in members:
                subscriber.end()

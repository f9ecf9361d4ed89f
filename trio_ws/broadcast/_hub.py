"""``Hub``: the local fan-out from channels to the subscribers of this process.

Both backends deliver through one hub: the memory backend directly from ``publish``, the Redis
backend from its one subscription connection. Delivery never waits for a subscriber, except
for subscribers that chose ``overflow="block"``.
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

    __slots__ = ("_channels",)

    def __init__(self) -> None:
        # a dict as an ordered set: delivery follows subscription order
        self._channels: dict[str, dict[Subscriber, None]] = {}

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
        if members:
            return False
        del self._channels[subscriber.channel]
        return True

    def subscribers(self, channel: str) -> Iterable[Subscriber]:
        """A snapshot of the subscribers of ``channel``."""
        return list(self._channels.get(channel, ()))

    async def deliver(self, event: BroadcastEvent) -> None:
        """Give ``event`` to every subscriber of its channel.

        Waits only for subscribers with ``overflow="block"`` and a full buffer, one after
        the other.

        Cancellation:
          Only possible while waiting for a blocking subscriber; the subscribers before it
          have the message, it and the ones after it do not.
        """
        waiting = [sub for sub in self.subscribers(event.channel) if not sub.offer(event)]
        for subscriber in waiting:
            await subscriber.put(event)

    def mark_gap(self) -> None:
        """Tell every subscriber that messages may have been missed from here on."""
        for members in self._channels.values():
            for subscriber in members:
                subscriber.mark_gap()

    def end_all(self) -> None:
        """End every subscription (the broadcast is closing)."""
        for members in self._channels.values():
            for subscriber in members:
                subscriber.end()

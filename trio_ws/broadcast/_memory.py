"""``MemoryBackend``: the in-process bus of ``Broadcast("memory://")``."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, final

import trio

from ._event import BroadcastEvent

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._hub import Hub

__all__ = ["MemoryBackend"]


@final
class MemoryBackend:
    """Publishing delivers straight to the local hub; history is a bounded deque per channel."""

    def __init__(self, hub: Hub, history: int) -> None:
        self._hub = hub
        self._history = history
        self._recent: dict[str, deque[BroadcastEvent]] = {}
        self._counter = 0

    async def start(self, nursery: trio.Nursery) -> None:
        await trio.lowlevel.checkpoint()

    async def stop(self) -> None:
        await trio.lowlevel.checkpoint()

    async def publish(self, channel: str, message: str | bytes) -> None:
        await trio.lowlevel.checkpoint()
        await self._hub.deliver(self._event(channel, message))

    async def publish_many(
        self, items: Sequence[tuple[str, str | bytes]]
    ) -> list[Exception | None]:
        await trio.lowlevel.checkpoint()
        for channel, message in items:  # one checkpoint for the batch, as one round trip
            await self._hub.deliver(self._event(channel, message))
        return [None] * len(items)

    def _event(self, channel: str, message: str | bytes) -> BroadcastEvent:
        """The event of a new message (kept in the channel's history, if any)."""
        if not self._history:
            return BroadcastEvent(channel, message)
        self._counter += 1
        event = BroadcastEvent(channel, message, position=(self._counter, 0))
        recent = self._recent.get(channel)
        if recent is None:
            recent = self._recent[channel] = deque(maxlen=self._history)
        recent.append(event)
        return event

    async def listen(self, channel: str) -> None:
        await trio.lowlevel.checkpoint()

    async def unlisten(self, channel: str) -> None:
        await trio.lowlevel.checkpoint()

    async def recent(self, channel: str, count: int) -> list[BroadcastEvent]:
        await trio.lowlevel.checkpoint()
        recent = self._recent.get(channel, ())
        return list(recent)[-count:] if count else []

    async def after(
        self, channel: str, position: tuple[int, int], count: int
    ) -> tuple[list[BroadcastEvent], bool]:
        await trio.lowlevel.checkpoint()
        recent = list(self._recent.get(channel, ()))
        for index, event in enumerate(recent):
            assert event.position is not None
            if event.position >= position:
                found = event.position == position
                newer = recent[index + 1 :] if found else recent[index:]
                return newer[-count:], found and len(newer) <= count
        # `position` is newer than the whole history: an id from elsewhere (another process,
        # or this one before a restart)
        return recent[-count:], False

"""``Backend``: what the `Broadcast` front needs from a message bus."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    import trio

    from ._event import BroadcastEvent

__all__ = ["Backend"]


class Backend(Protocol):
    """A message bus. Messages it receives go to the `Hub` it was made with."""

    async def start(self, nursery: trio.Nursery) -> None:
        """Connect; background tasks go in ``nursery``. Raises ``BroadcastUnavailable``."""

    async def stop(self) -> None:
        """Disconnect. Never raises."""

    async def publish(self, channel: str, message: str | bytes) -> None:
        """Publish to every process. Raises ``BroadcastUnavailable``."""

    async def publish_many(
        self, items: Sequence[tuple[str, str | bytes]]
    ) -> list[Exception | None]:
        """Publish ``(channel, message)`` pairs in order (one round trip on Redis).

        Returns, for each, ``None`` (accepted) or the error that refused it; an error it
        raises refuses them all.
        """

    async def listen(self, channel: str) -> None:
        """The first local subscriber of ``channel`` arrived: start receiving it."""

    async def unlisten(self, channel: str) -> None:
        """The last local subscriber of ``channel`` left. Never raises."""

    async def recent(self, channel: str, count: int) -> list[BroadcastEvent]:
        """Up to ``count`` most recent messages of ``channel``, oldest first.

        Raises ``BroadcastUnavailable``.
        """

    async def after(
        self, channel: str, position: tuple[int, int], count: int
    ) -> tuple[list[BroadcastEvent], bool]:
        """The history of ``channel`` after ``position``: up to ``count`` newest, oldest first.

        The flag says whether the list starts right after ``position``: ``False`` when
        ``position`` is no longer (or never was) in the history, or when more than ``count``
        messages follow it. A ``position`` newer than the whole history (an id from another
        process, or from before a restart) gets the ``count`` newest messages and ``False``.
        Raises ``BroadcastUnavailable``.
        """

"""``SendTurn``: first-come, first-served turns at a connection's ASGI send."""

from __future__ import annotations

from typing import final

import trio

__all__ = ["SendTurn"]


@final
class SendTurn:
    """At most one holder at a time; waiters get the turn in the order they asked for it.

    It does what ``trio.StrictFIFOLock`` would, for less on the per-message path: a free
    turn is taken with a flag check (no schedule point: the send that follows is the
    checkpoint) and no task identity is looked up. The turn is handed directly to the next
    waiter on release, so nobody can jump the queue in between.
    """

    __slots__ = ("_held", "_waiters")

    def __init__(self) -> None:
        self._held = False
        self._waiters: trio.lowlevel.ParkingLot | None = None  # made when first contended

    @property
    def held(self) -> bool:
        """Whether a task holds the turn (possibly about to hand it to a waiter)."""
        return self._held

    async def take(self) -> None:
        """Take the turn, waiting behind earlier callers if it is held.

        Cancellation:
          Atomic: if this raises ``trio.Cancelled``, the turn was not taken. Taking a free
          turn is not a checkpoint.
        """
        if not self._held:
            self._held = True
            return
        if self._waiters is None:
            self._waiters = trio.lowlevel.ParkingLot()
        await self._waiters.park()  # on wake-up the releasing task has handed us the turn

    def try_take(self) -> bool:
        """Take the turn if it is free, without waiting; return whether it was taken."""
        if self._held:
            return False
        self._held = True
        return True

    def release(self) -> None:
        """Give the turn to the longest waiter, or free it."""
        if self._waiters:
            self._waiters.unpark()  # ``_held`` stays true: the turn changes hands
        else:
            self._held = False

    async def __aenter__(self) -> None:
        """``async with turn:`` takes the turn (see `take`) and releases it on the way out."""
        await self.take()

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

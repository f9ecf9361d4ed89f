"""``Wakeup``: the place where one task waits until another says that something happened.

Structured mode's receiver and pump and a Broadcast subscriber's reader each wait for one
specific thing (a message arrived, room was freed, the pump's deadline moved), and only one
task ever waits for it. A `Wakeup` names that thing as an attribute of its owner and costs no
allocation per wait (no ``trio.Event`` made and thrown away per message): the waiting task
parks itself, and the task that makes the thing happen reschedules it.

The waiter re-checks its condition after every wake-up: a wake-up says "look again", and one
may come from an earlier change the waiter already saw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import Awaitable

__all__ = ["Wakeup"]


class Wakeup:
    """One task's wait for one kind of event, woken by `wake`."""

    __slots__ = ("_task",)

    def __init__(self) -> None:
        self._task: trio.lowlevel.Task | None = None

    @property
    def waiting(self) -> bool:
        """Whether a task waits here now."""
        return self._task is not None

    def wait(self) -> Awaitable[object]:
        """Wait until another task calls `wake` (always a schedule point): ``await
        wakeup.wait()``, at once.

        Not a coroutine function itself: it hands back trio's own wait, so that a parked task
        holds no extra frame (a Broadcast reader per subscriber, thousands of them).

        Raises:
          trio.BusyResourceError: another task already waits here.

        Cancellation:
          The wait ends with ``trio.Cancelled``; nothing else changes.
        """
        if self._task is not None:
            raise trio.BusyResourceError("another task is already waiting for this")
        self._task = trio.lowlevel.current_task()
        return trio.lowlevel.wait_task_rescheduled(self._abort)  # noqa: ASYNC105 (awaited by the caller)

    def wake(self) -> None:
        """Let the waiting task, if any, run again (not a schedule point)."""
        task = self._task
        if task is not None:
            self._task = None
            trio.lowlevel.reschedule(task)

    def _abort(self, raise_cancel: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        self._task = None
        return trio.lowlevel.Abort.SUCCEEDED

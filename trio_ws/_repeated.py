"""``RepeatedCondition``: log a condition that can recur many times a second, readably.

A server at its file-descriptor limit fails ``accept()`` ten times a second; a broadcast whose
Redis is down fails every reconnection attempt. Logging each one buries everything else (391
tracebacks in 20 s). A `RepeatedCondition` logs the first occurrence (with its detail), then at
most one line per ``interval`` with the count since the last line, then one line when the
condition ends, with how long it lasted and how often it happened.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

__all__ = ["RepeatedCondition"]


@final
class RepeatedCondition:
    """One recurring condition, logged as start / counts / end.

    Args:
      logger: where the lines go (all at WARNING, so that the end shows where the start did).
      what: what is wrong, as the start of each line (``"trio_ws: cannot accept
        connections"``).
      interval: seconds between two count lines while the condition lasts.
      clock: the time source (``trio.current_time`` in a Trio task; ``time.monotonic`` by
        default).
    """

    __slots__ = ("_clock", "_count", "_interval", "_logger", "_reported", "_since", "_unreported",
                 "what")  # fmt: skip

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        *,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self.what = what
        self._interval = interval
        self._clock = clock
        self._since: float | None = None
        self._reported = 0.0
        self._count = 0
        self._unreported = 0

    @property
    def active(self) -> bool:
        """Whether the condition is going on (occurred, and not ended since)."""
        return self._since is not None

    def occurred(self, detail: str) -> None:
        """The condition happened (again); log it if it is new or a count line is due."""
        now = self._clock()
        if self._since is None:
            self._since = self._reported = now
            self._count = 1
            self._unreported = 0
            self._logger.warning("%s: %s (repeats are counted, not logged)", self.what, detail)
            return
        self._count += 1
        self._unreported += 1
        if now - self._reported >= self._interval:
            self._logger.warning(
                "%s: still failing, %d more time(s) in the last %.0f s (latest: %s)",
                self.what,
                self._unreported,
                now - self._reported,
                detail,
            )
            self._reported = now
            self._unreported = 0

    def ended(self, detail: str = "") -> None:
        """The condition is over (a success); log that once, if it was going on.

        Args:
          detail: how it ended, added to the line (``"recovered after 2.0 s (3 occurrence(s));
            <detail>"``) where a plain "recovered" would not say enough.
        """
        if self._since is None:
            return
        self._logger.warning(
            "%s: recovered after %.1f s (%d occurrence(s))%s",
            self.what,
            self._clock() - self._since,
            self._count,
            f"; {detail}" if detail else "",
        )
        self._since = None

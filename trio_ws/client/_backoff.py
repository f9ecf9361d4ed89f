"""``Backoff``: how long `trio_ws.keep_connected` waits before the next attempt (sans-I/O).

Exponential with jitter: the n-th consecutive failure waits a uniformly random time between
``min_delay`` and ``min(max_delay, min_delay * 2**n)``, so many clients cut off at once do not
come back at once, and a dead server is asked ever less often. A connection that stayed open
at least ``reset_after`` seconds counts as a success: the next wait starts from ``min_delay``
again. It never reads a clock or sleeps; the caller says how long a connection lived.
"""

from __future__ import annotations

import random
from typing import Final

__all__ = ["Backoff"]

#: Doublings after which the delay is capped anyway (keeps ``2**n`` small).
_MAX_DOUBLINGS: Final = 30


class Backoff:
    """The waits between reconnection attempts.

    Args:
      min_delay: the shortest wait, in seconds (> 0).
      max_delay: the longest wait (>= ``min_delay``).
      reset_after: a connection open at least this long resets the backoff.
      rng: where the jitter comes from (a seeded ``random.Random`` in tests).

    Raises:
      ValueError: delays that are not positive numbers, or ``max_delay < min_delay``.
    """

    __slots__ = ("_failures", "_rng", "max_delay", "min_delay", "reset_after")

    def __init__(
        self,
        min_delay: float,
        max_delay: float,
        reset_after: float,
        rng: random.Random | None = None,
    ) -> None:
        for name, value in (
            ("min_delay", min_delay),
            ("max_delay", max_delay),
            ("reset_after", reset_after),
        ):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"{name} must be a number > 0, got {value!r}")
        if max_delay < min_delay:
            raise ValueError(f"max_delay ({max_delay}) is less than min_delay ({min_delay})")
        self.min_delay = float(min_delay)
        self.max_delay = float(max_delay)
        self.reset_after = float(reset_after)
        self._rng = rng if rng is not None else random.Random()
        self._failures = 0

    def next_delay(self, lived: float | None) -> float:
        """The wait before the next attempt, after one that failed to open (``lived=None``) or
        a connection that was open for ``lived`` seconds before the server or the network
        ended it."""
        if lived is not None and lived >= self.reset_after:
            self._failures = 0
        cap = min(self.max_delay, self.min_delay * 2 ** min(self._failures, _MAX_DOUBLINGS))
        self._failures += 1
        return self._rng.uniform(self.min_delay, cap)

"""`time_bound`: a synchronous test's ``trio.fail_after``.

A test that drives real sockets or processes without a trio loop of its own (a benchmark's
smoke run, which calls ``trio.run`` itself; the Redis Cluster fixture's checks through
redis-cli) runs its body inside ``with time_bound(seconds):``. If the body is still running
when the time is up, the test fails with `TimeBoundExceeded`, its ``with`` blocks and fixtures
clean up, and the suite goes on (rather than waiting for pytest's ``faulthandler_timeout``,
which only prints the stacks):

* inside a ``trio.run`` (the body called one), everything in that run is cancelled, as
  ``trio.fail_after`` would, so the run unwinds properly; `TimeBoundExceeded` comes out of the
  block (from whatever the run raised). If the run has not ended `GRACE` seconds later (a
  blocking call that ignores cancellation), it is raised where the code then is;
* anywhere else (a process or socket wait), it is raised where the code waits.

It uses ``SIGALRM`` (POSIX, main thread: where pytest runs tests).
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

__all__ = ["GRACE", "TimeBoundExceeded", "time_bound"]

#: Seconds a cancelled ``trio.run`` gets to unwind before the error is raised in it anyway.
GRACE = 10.0


class TimeBoundExceeded(TimeoutError):
    """A synchronous test ran past its `time_bound`."""


def _cancel_the_run() -> None:
    """Run by trio (``run_sync_soon``): cancel the main task and the system tasks (the
    innermost nursery of the root task, as trio does when the main task ends)."""
    trio.lowlevel.current_root_task().child_nurseries[-1].cancel_scope.cancel(
        "the test's time bound"
    )


@contextmanager
def time_bound(seconds: float) -> Iterator[None]:
    """Fail the block with `TimeBoundExceeded` if it runs longer than ``seconds``.

    Raises:
      TimeBoundExceeded: the block was still running after ``seconds``.
      ValueError: ``seconds`` is not positive, or this is not the main thread.

    Cancellation: a ``trio.run`` inside the block is cancelled when the time is up; the alarm
    is disarmed and the previous ``SIGALRM`` handler put back however the block ends. Bounds
    do not nest.
    """
    if seconds <= 0:
        raise ValueError(f"a time bound must be positive, not {seconds!r}")
    message = f"the test ran past its bound of {seconds} s"
    expired = False

    def expire(signum: int, frame: FrameType | None) -> None:
        nonlocal expired
        if not expired:
            expired = True
            try:
                token = trio.lowlevel.current_trio_token()
            except RuntimeError:  # no trio.run here: stop the wait itself
                pass
            else:  # let the run unwind: cancel it from inside (signal-safe), give it GRACE
                token.run_sync_soon(_cancel_the_run)
                signal.setitimer(signal.ITIMER_REAL, GRACE)
                return
        raise TimeBoundExceeded(message)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except TimeBoundExceeded:
        raise
    except BaseException as error:
        if expired:
            raise TimeBoundExceeded(message) from error
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if expired:  # the cancelled run ended without an error (a cancellation it absorbed)
        raise TimeBoundExceeded(message)

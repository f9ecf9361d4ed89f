"""`tests._time_bound.time_bound`, the bound of the synchronous socket and process tests."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest
import trio

from tests._time_bound import TimeBoundExceeded, time_bound


def test_a_block_that_hangs_is_stopped_at_its_bound() -> None:
    never = threading.Event()
    started = time.monotonic()
    with pytest.raises(TimeBoundExceeded, match=r"bound of 0\.2 s"), time_bound(0.2):
        never.wait(30)  # what a hung socket or process wait looks like
    assert time.monotonic() - started < 10
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL  # put back
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # disarmed


def test_a_hung_child_process_wait_is_stopped_and_the_child_is_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(TimeBoundExceeded), time_bound(0.5):
            child.wait()  # no timeout of its own: the bound stops it
    finally:
        child.kill()
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL


def test_a_trio_run_that_hangs_is_cancelled_and_unwinds_properly() -> None:
    """Inside a ``trio.run`` (a benchmark's), the bound cancels the run as ``fail_after``
    would: the run's own clean-up runs, and the test fails with `TimeBoundExceeded`."""
    cleaned_up: list[str] = []

    async def hangs() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep_forever)
            try:
                await trio.sleep_forever()
            finally:
                cleaned_up.append("main task")

    with pytest.raises(TimeBoundExceeded) as info, time_bound(0.3):
        trio.run(hangs)
    assert cleaned_up == ["main task"]
    cause = info.value.__cause__
    assert isinstance(cause, BaseExceptionGroup)
    assert cause.subgroup(trio.Cancelled) is not None
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_trio_run_blocked_past_its_bound_fails_even_if_it_then_ends_well() -> None:
    """Blocked outside trio (no checkpoint left to deliver the cancellation), within the
    grace period: the run returns normally, and the bound still fails the test."""

    async def blocks_then_returns() -> None:
        threading.Event().wait(1.0)  # a blocking call, past the bound of 0.3 s

    with pytest.raises(TimeBoundExceeded) as info, time_bound(0.3):
        trio.run(blocks_then_returns)
    assert info.value.__cause__ is None


def test_a_block_within_its_bound_is_left_alone() -> None:
    with time_bound(30):
        result = sum(range(1000))
    assert result == 499500
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"), time_bound(0):
        pass

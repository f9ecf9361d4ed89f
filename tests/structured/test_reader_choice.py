"""The reader choice of structured mode, synchronously: every transition without an event loop."""

from __future__ import annotations

import math

import pytest

from trio_ws._reader import (
    LINGER,
    MAX_TAKEOVER_DELAY,
    TAKEOVER_DELAY,
    AfterRead,
    AppStep,
    PumpStep,
    Reader,
    ReaderChoice,
)


def test_a_fresh_connection_is_read_by_the_pump_at_once() -> None:
    """A handler that has never received (a send-only one) gets a pump that reads now."""
    choice = ReaderChoice()
    assert choice.needs_pump()
    assert not choice.needs_pump()  # counted as present until it leaves
    assert choice.pump_step(now=0.0, buffer_full=False) == (PumpStep.READ, math.inf)
    assert choice.reader is Reader.PUMP


def test_the_application_reads_directly_when_nobody_else_does() -> None:
    choice = ReaderChoice()
    assert choice.app_enters(1.0, buffered=False) is AppStep.DIRECT
    assert choice.reader is Reader.APP
    choice.read_done(final=False)
    assert choice.reader is Reader.NOBODY


def test_buffered_messages_come_first_whoever_reads() -> None:
    choice = ReaderChoice()
    assert choice.pump_step(0.0, buffer_full=False) == (PumpStep.READ, math.inf)
    assert choice.reader is Reader.PUMP
    assert choice.app_step(buffered=True) is AppStep.BUFFER
    assert choice.app_step(buffered=False) is AppStep.WAIT


def test_the_pump_waits_for_the_application_to_be_away_long_enough() -> None:
    """After the application leaves receive, the pump reads only TAKEOVER_DELAY later."""
    choice = ReaderChoice()
    assert choice.needs_pump()
    assert choice.app_enters(10.0, buffered=False) is AppStep.DIRECT
    assert choice.app_read_done(10.5, final=False) is AfterRead.NOTHING  # it waits for nothing
    assert choice.pump_step(10.5, buffer_full=False) == (PumpStep.WAIT, 10.5 + TAKEOVER_DELAY)
    assert choice.reader is Reader.NOBODY
    assert choice.pump_step(10.5 + TAKEOVER_DELAY, False) == (PumpStep.READ, math.inf)


def test_a_full_buffer_holds_the_pump_under_the_block_policy() -> None:
    choice = ReaderChoice()
    assert choice.pump_step(5.0, buffer_full=True) == (PumpStep.WAIT, math.inf)
    assert choice.reader is Reader.NOBODY


def test_the_pump_lingers_while_the_application_reads_then_leaves() -> None:
    """Steady traffic keeps the pump task (no start per message); a whole LINGER inside one
    receive (an idle connection) lets it go."""
    choice = ReaderChoice()
    assert choice.needs_pump()
    assert choice.app_enters(0.0, buffered=False) is AppStep.DIRECT
    assert choice.pump_step(0.5, False) == (PumpStep.WAIT, LINGER)
    assert choice.pump_step(LINGER, False) == (PumpStep.LEAVE, math.inf)
    choice.pump_leaves(for_now=True)
    assert choice.reader is Reader.APP
    # The application's next return brings it back, counted as present from then on.
    assert choice.app_read_done(LINGER + 1, final=False) is AfterRead.START_PUMP
    assert not choice.needs_pump()


def test_leaving_receive_wakes_a_pump_that_would_wake_too_late() -> None:
    """The event that replaces polling: the pump sleeps until its deadline, and the
    application wakes it only when that deadline is later than the takeover."""
    choice = ReaderChoice()
    assert choice.needs_pump()
    assert choice.app_enters(0.0, buffered=False) is AppStep.DIRECT
    step, until = choice.pump_step(0.0, False)
    assert (step, until) == (PumpStep.WAIT, LINGER)
    assert choice.pump_wakes_at == LINGER  # what the pump now waits for
    # LINGER is later than 0.1 + TAKEOVER_DELAY: wake it.
    assert choice.app_read_done(0.1, final=False) is AfterRead.WAKE_PUMP
    assert choice.pump_step(0.1, False) == (PumpStep.WAIT, 0.1 + TAKEOVER_DELAY)
    assert choice.pump_wakes_at == 0.1 + TAKEOVER_DELAY
    assert choice.app_enters(0.11, buffered=False) is AppStep.DIRECT
    # Its deadline is early enough already.
    assert choice.app_read_done(0.12, final=False) is AfterRead.NOTHING
    assert choice.pump_step(0.2, False) == (PumpStep.READ, math.inf)
    assert choice.pump_wakes_at == -math.inf
    assert not choice.app_leaves(0.2)  # not waiting for a deadline: nothing to wake


def test_a_disconnect_or_a_failed_read_ends_reading_for_everybody() -> None:
    for final_read in ("disconnect", "failure"):
        choice = ReaderChoice()
        assert choice.pump_step(0.0, False)[0] is PumpStep.READ
        choice.read_done(final=True)
        assert choice.reader is Reader.DONE, final_read
        assert choice.app_step(buffered=False) is AppStep.ENDED
        assert choice.app_step(buffered=True) is AppStep.BUFFER  # what came before still comes
        assert choice.pump_step(1.0, False) == (PumpStep.STOP, math.inf)
        assert not choice.needs_pump()


def test_the_end_of_the_block_is_not_undone_by_a_late_read() -> None:
    for late_read in ("the pump's", "the application's"):
        choice = ReaderChoice()
        assert choice.app_enters(0.0, buffered=False) is AppStep.DIRECT
        choice.end()
        # The read was cancelled by the ending; no pump is started after it.
        if late_read == "the pump's":
            choice.read_done(final=False)
        else:
            assert choice.app_read_done(0.1, final=False) is AfterRead.NOTHING
        assert choice.reader is Reader.DONE, late_read
        assert not choice.needs_pump()


def test_the_application_s_final_read_ends_reading_and_starts_no_pump() -> None:
    """A disconnect (or a failed read) the application read itself: nobody reads again, and
    no pump task is started for nothing."""
    choice = ReaderChoice()
    assert choice.app_enters(0.0, buffered=False) is AppStep.DIRECT
    assert choice.app_read_done(0.1, final=True) is AfterRead.NOTHING
    assert choice.reader is Reader.DONE
    assert choice.app_enters(0.2, buffered=False) is AppStep.ENDED
    assert not choice.needs_pump()


@pytest.mark.parametrize("for_now", [True, False])
def test_a_pump_leaving_for_good_ends_reading(for_now: bool) -> None:
    choice = ReaderChoice()
    assert choice.needs_pump()
    choice.pump_leaves(for_now=for_now)
    assert (choice.reader is Reader.DONE) is not for_now
    assert choice.needs_pump() is for_now


def _pump_wakes(gap: float, away: float, duration: float) -> tuple[int, ReaderChoice]:
    """How often the pump is woken (early, or by its deadline) while the application, reading
    directly, leaves receive every ``gap`` seconds for ``away`` seconds, for ``duration``."""
    choice = ReaderChoice()
    assert choice.needs_pump()
    now = 0.0
    assert choice.app_enters(now, buffered=False) is AppStep.DIRECT
    assert choice.pump_step(now, False) == (PumpStep.WAIT, LINGER)
    wakes = 0
    while now < duration:
        now += gap
        woken = choice.app_read_done(now, final=False) is AfterRead.WAKE_PUMP
        assert choice.app_enters(now + away, buffered=False) is AppStep.DIRECT
        while woken or now >= choice.pump_wakes_at:
            woken = False
            wakes += 1
            step, _ = choice.pump_step(now, False)
            assert step is PumpStep.WAIT
    return wakes, choice


def test_a_stream_of_messages_wakes_the_pump_rarely() -> None:
    """Messages back to back (the application leaves and re-enters receive every 10 µs for
    a second): the pump is woken early at most about twice per TAKEOVER_DELAY."""
    wakes, _ = _pump_wakes(0.00001, 0.0, 1.0)
    assert wakes <= 2 * (1.0 / TAKEOVER_DELAY) + 2, wakes


def _round_trip(choice: ReaderChoice, left: float, back: float) -> None:
    """The application's direct read returned at ``left``; it answers and is back at ``back``."""
    assert choice.app_read_done(left, final=False) is not AfterRead.START_PUMP
    assert choice.app_enters(back, buffered=False) is AppStep.DIRECT


def test_a_takeover_check_that_finds_the_application_back_lengthens_the_delay() -> None:
    """A wasted takeover check sets the delay to MAX_TAKEOVER_DELAY; the next takeover turn
    uses it."""
    choice = ReaderChoice()
    assert choice.needs_pump()
    assert choice.app_enters(0.0, buffered=False) is AppStep.DIRECT
    assert choice.pump_step(0.0, False) == (PumpStep.WAIT, LINGER)
    _round_trip(choice, 0.01, 0.011)  # woken: its deadline was LINGER-far
    assert choice.pump_step(0.01, False) == (PumpStep.WAIT, 0.01 + TAKEOVER_DELAY)
    # The check comes due and the application is back: no takeover, and a longer delay.
    assert choice.pump_step(0.01 + TAKEOVER_DELAY, False) == (PumpStep.WAIT, 0.011 + LINGER)
    assert choice.takeover_delay == MAX_TAKEOVER_DELAY
    # Its LINGER deadline comes before the turn: no need to wake it.
    assert choice.app_read_done(0.2, final=False) is AfterRead.NOTHING
    assert choice.pump_step(0.011 + LINGER, False) == (PumpStep.WAIT, 0.2 + MAX_TAKEOVER_DELAY)
    assert choice.pump_step(0.2 + MAX_TAKEOVER_DELAY, False) == (PumpStep.READ, math.inf)


def test_a_quick_loop_keeps_the_long_delay_and_the_pump_takes_over_after_it() -> None:
    _, choice = _pump_wakes(0.9 * TAKEOVER_DELAY, 0.0001, 10.0)
    assert choice.takeover_delay == MAX_TAKEOVER_DELAY
    # The application now stays away: the pump takes over after the grown delay.
    now = 10.5
    if choice.app_read_done(now, final=False) is AfterRead.WAKE_PUMP:
        choice.pump_step(now, False)
    assert choice.pump_wakes_at <= now + MAX_TAKEOVER_DELAY
    step, until = choice.pump_step(choice.pump_wakes_at, False)
    if step is PumpStep.WAIT:  # woken by an earlier deadline: the turn is next
        assert until == now + choice.takeover_delay <= now + MAX_TAKEOVER_DELAY
        step, until = choice.pump_step(until, False)
    assert (step, until) == (PumpStep.READ, math.inf)


def test_taking_over_or_leaving_makes_the_pump_prompt_again() -> None:
    choice = ReaderChoice()
    assert choice.needs_pump()
    assert choice.app_enters(0.0, buffered=False) is AppStep.DIRECT
    choice.pump_step(0.0, False)
    _round_trip(choice, 0.01, 0.011)
    assert choice.pump_step(0.01, False)[1] == 0.01 + TAKEOVER_DELAY
    assert choice.pump_step(0.01 + TAKEOVER_DELAY, False)[0] is PumpStep.WAIT
    assert choice.takeover_delay == MAX_TAKEOVER_DELAY
    # A takeover (the application stays away for the whole delay) resets it.
    assert choice.app_read_done(1.0, final=False) is AfterRead.NOTHING
    assert choice.pump_step(1.011, False) == (PumpStep.WAIT, 1.0 + MAX_TAKEOVER_DELAY)
    assert choice.pump_step(1.0 + MAX_TAKEOVER_DELAY, False) == (PumpStep.READ, math.inf)
    assert choice.takeover_delay == TAKEOVER_DELAY
    # So does the pump task leaving (an idle connection): a new pump starts prompt.
    grown = ReaderChoice()
    assert grown.needs_pump()
    assert grown.app_enters(0.0, buffered=False) is AppStep.DIRECT
    grown.pump_step(0.0, False)
    _round_trip(grown, 0.01, 0.011)
    grown.pump_step(0.01, False)
    grown.pump_step(0.01 + TAKEOVER_DELAY, False)
    assert grown.takeover_delay > TAKEOVER_DELAY
    assert grown.pump_step(0.011 + LINGER, False) == (PumpStep.LEAVE, math.inf)
    grown.pump_leaves(for_now=True)
    assert grown.takeover_delay == TAKEOVER_DELAY


def test_round_trips_as_long_as_the_takeover_delay_wake_the_pump_rarely() -> None:
    """A request/response loop whose round trip is just under TAKEOVER_DELAY, for 10 s: with
    a fixed delay the pump is woken early and then on its timer every other round trip (149
    wakes); the adaptive delay keeps it to a few per MAX_TAKEOVER_DELAY (11)."""
    wakes, _ = _pump_wakes(0.9 * TAKEOVER_DELAY, 0.0001, 10.0)
    assert wakes <= 2 * 10.0 / MAX_TAKEOVER_DELAY + 10, wakes

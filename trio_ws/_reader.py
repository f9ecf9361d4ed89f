"""Who reads from the server in structured mode: one state, its transitions, no I/O.

In structured mode the server's ``receive`` is called by one of two parties, never both:

* the **application**, directly, while it is inside a ``receive_*`` call and nothing is
  buffered (no hand-off through another task: the fast path);
* the **receive pump**, a task of the connection's nursery, while the application is away
  from receiving, so that a handler that only sends still sees the disconnect, and the
  server's queue keeps moving (docs/hypercorn-facts.md, fact 3).

`ReaderChoice` holds that decision as one explicit state and changes it only through the
methods below, which take the time as an argument and never await: every rule is tested
synchronously (``tests/structured/test_reader_choice.py``). The structured block performs what
they decide. The pump is driven by events, not by a polling period: it waits for a deadline
computed from the state, and the application wakes it early when that deadline is too late
(see `ReaderChoice.app_leaves`).

The delays:

* ``TAKEOVER_DELAY``: how long the application must have been away from receiving before the
  pump reads. Short enough to notice a disconnect promptly in a send-only phase; long enough
  that an application which receives, answers and receives again keeps reading directly.
* The takeover delay adapts, per connection, between ``TAKEOVER_DELAY`` and
  ``MAX_TAKEOVER_DELAY``: when the pump wakes to take over and finds the application back in
  receive (it came back in time: the wake was wasted), the delay becomes
  ``MAX_TAKEOVER_DELAY``; when the pump does take over, and whenever the pump task leaves, it
  falls back to ``TAKEOVER_DELAY``. A request/response loop whose round trips are about as long
  as the delay would otherwise wake the pump on a timer for almost every message, for nothing;
  with the adaptation it is woken about twice per ``MAX_TAKEOVER_DELAY``. (Doubling the delay
  at each wasted wake instead was measured too: the ramp costs a dozen wakes per pump, about
  4 % of the client bench's CPU, and buys little.) The price: an application that was
  answering quickly and then stops receiving is noticed after at most ``MAX_TAKEOVER_DELAY``
  instead of ``TAKEOVER_DELAY`` (its pings and closes are answered that much later).
* ``LINGER``: how long the application must have sat in one receive before the pump task
  leaves. An idle connection holds no pump task; a connection with steady traffic (a message
  every 100 ms) keeps one task instead of starting one per message.
"""

from __future__ import annotations

import enum
import math
from typing import Final

__all__ = [
    "LINGER",
    "MAX_TAKEOVER_DELAY",
    "TAKEOVER_DELAY",
    "AfterRead",
    "AppStep",
    "PumpStep",
    "Reader",
    "ReaderChoice",
]

TAKEOVER_DELAY: Final = 0.05
MAX_TAKEOVER_DELAY: Final = 1.0
LINGER: Final = 1.0


class Reader(enum.Enum):
    """Who is calling the server's ``receive`` right now."""

    #: Nobody: the next one to need a message may read.
    NOBODY = "nobody"
    #: The application, directly, inside its ``receive_*`` call.
    APP = "app"
    #: The pump task.
    PUMP = "pump"
    #: Nobody ever again: the server reported the end, the block ended, or a read failed.
    DONE = "done"


class AppStep(enum.Enum):
    """What the application's receive does next (`ReaderChoice.app_step`)."""

    BUFFER = "take the oldest buffered message"
    DIRECT = "call the server's receive yourself"
    WAIT = "wait for the pump to deliver"
    ENDED = "raise the end of the connection"


class AfterRead(enum.Enum):
    """What the application does after its own read (`ReaderChoice.app_read_done`)."""

    NOTHING = "nothing"
    WAKE_PUMP = "wake the pump: its deadline is later than its turn"
    START_PUMP = "start a pump task: none is left, and reading is not over"


# Enum members as module constants (an Enum class attribute costs ~0.15 µs on Python 3.11).
_NOBODY, _APP, _PUMP, _DONE = Reader.NOBODY, Reader.APP, Reader.PUMP, Reader.DONE
_BUFFER, _DIRECT, _WAIT, _ENDED = AppStep.BUFFER, AppStep.DIRECT, AppStep.WAIT, AppStep.ENDED
_NOTHING, _WAKE_PUMP, _START_PUMP = AfterRead.NOTHING, AfterRead.WAKE_PUMP, AfterRead.START_PUMP


class PumpStep(enum.Enum):
    """What the pump does next (`ReaderChoice.pump_step`)."""

    READ = "call the server's receive"
    WAIT = "wait until the deadline, or until woken"
    LEAVE = "end the task: the application is reading and the connection is idle"
    STOP = "end the task: nothing will be read again"


class ReaderChoice:
    """The reader state of one structured connection.

    Every field is written by the methods below only; `reader`, `takeover_delay` and
    `pump_wakes_at` can be read.
    """

    __slots__ = (
        "_app_receiving",  # whether the application is inside a receive call
        # When the pump's current wait is a takeover check (the moment the application would
        # have been away for _delay), that moment; else inf. See pump_step.
        "_check_at",
        "_delay",  # the current takeover delay (adapts, see the module docstring)
        "_pump_present",  # whether a pump task exists
        "_pump_wakes_at",  # see pump_wakes_at
        # After the application woke the pump, the pump re-checks by this time rather than
        # sleeping a whole LINGER, so that a stream of messages wakes it at most about twice
        # per TAKEOVER_DELAY, not once per message.
        "_quiet_until",
        "_reader",  # see reader
        "_since",  # when the application last entered (if receiving) or left a receive call
    )

    def __init__(self) -> None:
        self._reader = _NOBODY
        self._app_receiving = False
        self._since = -math.inf  # "left receive long ago": the pump may read at once
        self._pump_present = False
        self._pump_wakes_at = -math.inf
        self._quiet_until = -math.inf
        self._delay: float = TAKEOVER_DELAY
        self._check_at = math.inf

    @property
    def reader(self) -> Reader:
        """Who calls the server's ``receive`` (`Reader`)."""
        return self._reader

    @property
    def takeover_delay(self) -> float:
        """How long the application must be away from receiving before the pump reads, now
        (between ``TAKEOVER_DELAY`` and ``MAX_TAKEOVER_DELAY``)."""
        return self._delay

    @property
    def pump_wakes_at(self) -> float:
        """The deadline the pump waits for (set by `pump_step` when it says WAIT); ``-inf``
        when it is not waiting for one (reading, waiting for buffer space, or absent)."""
        return self._pump_wakes_at

    # ------------------------------------------------------------------ the application

    def app_enters(self, now: float, buffered: bool) -> AppStep:
        """The application entered a receive call: decide how it gets its message (as
        `app_step`; DIRECT makes it the reader, and its read ends with `app_read_done`)."""
        self._app_receiving = True
        self._since = now
        if not buffered and self._reader is _NOBODY:  # the common case, without a call
            self._reader = _APP
            return _DIRECT
        return self.app_step(buffered)

    def app_step(self, buffered: bool) -> AppStep:
        """Decide how the receiving application gets its message; DIRECT makes it the reader."""
        if buffered:
            return _BUFFER
        reader = self._reader
        if reader is _NOBODY:
            self._reader = _APP
            return _DIRECT
        if reader is _PUMP:
            return _WAIT
        return _ENDED  # DONE (a second application reader is refused earlier)

    def app_read_done(self, now: float, *, final: bool) -> AfterRead:
        """The application's own call to the server's ``receive`` (DIRECT) returned or raised,
        and the application leaves its receive call: `read_done`, then `app_leaves`, in one.

        ``final``: as for `read_done`.

        Returns:
          START_PUMP when no pump task is left and reading is not over (the pump is counted
          as present from now on, as by `needs_pump`); WAKE_PUMP when `app_leaves` would
          return True; else NOTHING.
        """
        self._app_receiving = False
        self._since = now
        if final or self._reader is _DONE:
            self._reader = _DONE
        else:
            self._reader = _NOBODY
            if not self._pump_present:
                self._pump_present = True
                return _START_PUMP
        turn = now + self._delay
        if self._pump_wakes_at > turn:
            self._quiet_until = turn
            return _WAKE_PUMP
        return _NOTHING

    def app_leaves(self, now: float) -> bool:
        """The application left its receive call (with a message, an error or cancelled).

        Returns:
          True if the pump must be woken now: it waits for a deadline later than the moment
          it should take over (``now + takeover_delay``).
        """
        self._app_receiving = False
        self._since = now
        turn = now + self._delay
        if self._pump_wakes_at > turn:
            self._quiet_until = turn
            return True
        return False

    # ------------------------------------------------------------------ the pump

    def needs_pump(self) -> bool:
        """Whether a pump task should be started (none exists and reading is not over);
        if so, it is counted as present from now on."""
        if self._pump_present or self._reader is _DONE:
            return False
        self._pump_present = True
        return True

    def pump_step(self, now: float, buffer_full: bool) -> tuple[PumpStep, float]:
        """Decide what the pump does next; READ makes it the reader.

        Returns:
          The step, and for WAIT the deadline (``inf``: wait for buffer space). A finite
          deadline is what the pump waits for from now on (`pump_wakes_at`); the pump's next
          call replaces it.
        """
        check_due = now >= self._check_at  # woken by the takeover check it waited for
        self._check_at = math.inf  # the step below arms a new one if it waits for one
        step, until = self._next_pump_step(now, buffer_full)
        if step is PumpStep.READ:
            self._delay = TAKEOVER_DELAY  # the application does stay away: be prompt again
        elif check_due:
            # Woken to take over, and no need: the application came back in time. It comes
            # back often: stop checking so eagerly.
            self._delay = MAX_TAKEOVER_DELAY
        self._pump_wakes_at = until if step is PumpStep.WAIT and until != math.inf else -math.inf
        return step, until

    def _next_pump_step(self, now: float, buffer_full: bool) -> tuple[PumpStep, float]:
        if self._reader is _DONE:
            return PumpStep.STOP, math.inf
        if self._app_receiving:
            if self._reader is _APP and now >= self._since + LINGER:
                return PumpStep.LEAVE, math.inf
            until = self._since + LINGER
            if self._quiet_until < until and self._quiet_until > now:
                # Just woken by the application: re-check when it would have been away for
                # the takeover delay.
                until = self._check_at = self._quiet_until
            return PumpStep.WAIT, until
        turn = self._since + self._delay
        if now < turn:
            self._check_at = turn
            return PumpStep.WAIT, turn
        if buffer_full:
            return PumpStep.WAIT, math.inf
        self._reader = _PUMP
        return PumpStep.READ, math.inf

    def pump_leaves(self, *, for_now: bool) -> None:
        """The pump task ends: for now (LEAVE; it may be started again) or for good."""
        self._pump_present = False
        self._pump_wakes_at = -math.inf
        self._check_at = math.inf
        self._delay = TAKEOVER_DELAY  # a new pump starts prompt
        if not for_now:
            self._reader = _DONE

    # ------------------------------------------------------------------ either reader

    def read_done(self, *, final: bool) -> None:
        """The reader's call to the server's ``receive`` returned or raised.

        ``final``: the message was the disconnect, or the call failed: never read again.
        """
        if final or self._reader is _DONE:
            self._reader = _DONE
        else:
            self._reader = _NOBODY

    def end(self) -> None:
        """Reading is over (the block is ending, or the connection was closed on overflow)."""
        self._reader = _DONE

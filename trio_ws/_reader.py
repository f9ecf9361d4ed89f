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

The two delays:

* ``TAKEOVER_DELAY``: how long the application must have been away from receiving before the
  pump reads. Short enough to notice a disconnect promptly in a send-only phase; long enough
  that an application which receives, answers and receives again keeps reading directly.
* ``LINGER``: how long the application must have sat in one receive before the pump task
  leaves. An idle connection holds no pump task; a connection with steady traffic (a message
  every 100 ms) keeps one task instead of starting one per message.
"""

from __future__ import annotations

import enum
import math
from typing import Final

__all__ = ["LINGER", "TAKEOVER_DELAY", "AppStep", "PumpStep", "Reader", "ReaderChoice"]

TAKEOVER_DELAY: Final = 0.05
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


class PumpStep(enum.Enum):
    """What the pump does next (`ReaderChoice.pump_step`)."""

    READ = "call the server's receive"
    WAIT = "wait until the deadline, or until woken"
    LEAVE = "end the task: the application is reading and the connection is idle"
    STOP = "end the task: nothing will be read again"


class ReaderChoice:
    """The reader state of one structured connection.

    Attributes:
      reader: who calls the server's ``receive`` (`Reader`).
      app_receiving: whether the application is inside a receive call.
      since: when the application last entered (if receiving) or left a receive call.
      pump_present: whether a pump task exists.
      pump_wakes_at: the deadline the pump is waiting for; ``-inf`` when it is not waiting
        for one (reading, waiting for buffer space, or absent).
      quiet_until: after the application woke the pump, the pump re-checks by this time
        rather than sleeping a whole ``LINGER``, so that a stream of messages wakes it at
        most about twice per ``TAKEOVER_DELAY``, not once per message.
    """

    __slots__ = ("app_receiving", "pump_present", "pump_wakes_at", "quiet_until", "reader", "since")

    def __init__(self) -> None:
        self.reader = Reader.NOBODY
        self.app_receiving = False
        self.since = -math.inf  # "left receive long ago": the pump may read at once
        self.pump_present = False
        self.pump_wakes_at = -math.inf
        self.quiet_until = -math.inf

    # ------------------------------------------------------------------ the application

    def app_enters(self, now: float) -> None:
        """The application entered a receive call."""
        self.app_receiving = True
        self.since = now

    def app_step(self, buffered: bool) -> AppStep:
        """Decide how the receiving application gets its message; DIRECT makes it the reader."""
        if buffered:
            return AppStep.BUFFER
        reader = self.reader
        if reader is Reader.NOBODY:
            self.reader = Reader.APP
            return AppStep.DIRECT
        if reader is Reader.PUMP:
            return AppStep.WAIT
        return AppStep.ENDED  # DONE (a second application reader is refused earlier)

    def app_leaves(self, now: float) -> bool:
        """The application left its receive call (with a message, an error or cancelled).

        Returns:
          True if the pump must be woken now: it waits for a deadline later than the moment
          it should take over (``now + TAKEOVER_DELAY``).
        """
        self.app_receiving = False
        self.since = now
        if self.pump_wakes_at > now + TAKEOVER_DELAY:
            self.quiet_until = now + TAKEOVER_DELAY
            return True
        return False

    # ------------------------------------------------------------------ the pump

    def needs_pump(self) -> bool:
        """Whether a pump task should be started (none exists and reading is not over);
        if so, it is counted as present from now on."""
        if self.pump_present or self.reader is Reader.DONE:
            return False
        self.pump_present = True
        return True

    def pump_step(self, now: float, buffer_full: bool) -> tuple[PumpStep, float]:
        """Decide what the pump does next; READ makes it the reader.

        Returns:
          The step, and for WAIT the deadline (``inf``: wait for buffer space).
        """
        if self.reader is Reader.DONE:
            return PumpStep.STOP, math.inf
        if self.app_receiving:
            if self.reader is Reader.APP and now >= self.since + LINGER:
                return PumpStep.LEAVE, math.inf
            until = self.since + LINGER
            if self.quiet_until > now:  # just woken by the application: re-check soon
                until = min(until, self.quiet_until)
            return PumpStep.WAIT, until
        turn = self.since + TAKEOVER_DELAY
        if now < turn:
            return PumpStep.WAIT, turn
        if buffer_full:
            return PumpStep.WAIT, math.inf
        self.reader = Reader.PUMP
        return PumpStep.READ, math.inf

    def pump_leaves(self, *, for_now: bool) -> None:
        """The pump task ends: for now (LEAVE; it may be started again) or for good."""
        self.pump_present = False
        self.pump_wakes_at = -math.inf
        if not for_now:
            self.reader = Reader.DONE

    # ------------------------------------------------------------------ either reader

    def read_done(self, *, final: bool) -> None:
        """The reader's call to the server's ``receive`` returned or raised.

        ``final``: the message was the disconnect, or the call failed: never read again.
        """
        if final or self.reader is Reader.DONE:
            self.reader = Reader.DONE
        else:
            self.reader = Reader.NOBODY

    def end(self) -> None:
        """Reading is over (the block is ending, or the connection was closed on overflow)."""
        self.reader = Reader.DONE

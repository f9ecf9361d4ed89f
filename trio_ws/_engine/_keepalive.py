"""``KeepaliveTimer``: one task that pings, times out pongs and idle reads for a whole server.

Per connection there is no task and no timer. Each connection waits in a *cell* of a timer
wheel: the cell of the next moment something may be due for it (its next ping, its pong's
deadline, a look at its reads). The timer sleeps until the earliest non-empty cell and then
looks only at the connections in the cells that are due, so a tick costs in proportion to the
connections that are due, not to every open one. Cells are ``tick`` seconds wide: everything
due within one cell is handled in one pass (the pings of a pass share one payload and one
frame, made once by ``websockets``), at most ``tick`` late, never early. For each connection
due it

* pings it once its ``ping_interval`` elapsed: written at once when its application is
  reading (it reads the pong, or the read poller does for it while it waits at rest: see
  ``._poller``), else by a short-lived task that also reads for the pong;
* closes it with 1011 once its pong is ``ping_timeout`` late (the application sees the
  disconnect, a blocked ``send`` or ``receive`` is woken by aborting the socket);
* aborts it once it has been reading for ``read_timeout`` without receiving anything. Reads
  are counted, not timed (no clock read per message): a read is noticed at the next look,
  and looks come at least every ``read_timeout / 4``, so a connection is dropped between
  ``read_timeout`` and ``1.25 × read_timeout`` (plus one ``tick``) after its last read.
"""

# The docstring uses the multiplication sign on purpose.
# ruff: noqa: RUF002

from __future__ import annotations

import heapq
import itertools
import math
from typing import TYPE_CHECKING, Final

import trio
from websockets.frames import Frame, Opcode

if TYPE_CHECKING:
    from ._connection import EngineConnection, EngineSettings

__all__ = ["KeepaliveTimer"]

_MIN_TICK: Final = 0.05
_MAX_TICK: Final = 1.0
#: How many looks at a reading connection's reads fit in one ``read_timeout``.
_READ_LOOKS: Final = 4


class KeepaliveTimer:
    """The keepalive of every engine connection of one server."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        periods = [
            period
            for period in (settings.ping_interval, settings.ping_timeout, settings.read_timeout)
            if period
        ]
        #: The width of a cell in seconds (``None``: nothing to time).
        self.tick = min(_MAX_TICK, max(_MIN_TICK, min(periods) / 4)) if periods else None
        self._read_look = settings.read_timeout / _READ_LOOKS if settings.read_timeout else None
        #: Cell number → the connections waiting in it (cell ``n`` is due at ``n * tick``).
        self._cells: dict[int, set[EngineConnection]] = {}
        #: The numbers of the non-empty cells, as a heap (each once).
        self._cell_heap: list[int] = []
        self._payloads = itertools.count()
        #: The timer's sleep while it sleeps (its deadline moves up for an earlier cell).
        self._sleep: trio.CancelScope | None = None

    @property
    def watched(self) -> int:
        """How many connections are watched."""
        return sum(map(len, self._cells.values()))

    def add(self, connection: EngineConnection) -> None:
        """Start watching an accepted connection (its first ping is one interval away)."""
        if self.tick is None:
            return
        self.discard(connection)  # in one cell at a time
        now = trio.current_time()
        connection.idle_since = now
        connection.reads_seen = connection.reads
        if self.settings.ping_interval:
            connection.next_ping_at = now + self.settings.ping_interval
        self._schedule(connection, self._next_due(connection, now), now)

    def discard(self, connection: EngineConnection) -> None:
        """Stop watching a connection."""
        cell = connection.keepalive_cell
        if cell is not None:
            connection.keepalive_cell = None
            members = self._cells.get(cell)
            if members is not None:
                members.discard(connection)

    async def run(self, nursery: trio.Nursery) -> None:
        """Tick until cancelled; pings and failures run as short tasks in ``nursery``.

        Cancellation: the only way it ends.
        """
        tick = self.tick
        if tick is None:
            await trio.sleep_forever()
        assert tick is not None
        cells, heap = self._cells, self._cell_heap
        while True:
            with trio.CancelScope(deadline=heap[0] * tick if heap else math.inf) as sleep:
                self._sleep = sleep
                await trio.sleep_forever()
            self._sleep = None
            now = trio.current_time()
            frame: tuple[bytes, bytes] | None = None
            while heap and heap[0] * tick <= now:
                members = cells.pop(heapq.heappop(heap), None)
                if not members:
                    continue
                for connection in members:
                    connection.keepalive_cell = None
                    if frame is None and self._ping_due(connection, now):
                        frame = self._ping_frame()
                    due = self._check(connection, now, nursery, frame)
                    if due is not None:
                        self._schedule(connection, due, now)

    def _schedule(self, connection: EngineConnection, due: float, now: float) -> None:
        tick = self.tick
        assert tick is not None
        if due == math.inf:
            return  # nothing will ever be due (no pings, no read timeout)
        cell = math.ceil(due / tick)
        while cell * tick <= now:  # strictly later than now, whatever the rounding did
            cell += 1
        members = self._cells.get(cell)
        if members is None:
            members = self._cells[cell] = set()
            heapq.heappush(self._cell_heap, cell)
            sleep = self._sleep
            if sleep is not None and cell * tick < sleep.deadline:
                sleep.deadline = cell * tick
        members.add(connection)
        connection.keepalive_cell = cell

    def _ping_due(self, connection: EngineConnection, now: float) -> bool:
        return bool(self.settings.ping_interval) and now >= connection.next_ping_at

    def _ping_frame(self) -> tuple[bytes, bytes]:
        """A new ping payload and its frame (server frames are unmasked, and control frames
        are never compressed, so one frame serves every connection)."""
        payload = (next(self._payloads) % 2**32).to_bytes(4, "big")
        return payload, Frame(Opcode.PING, payload).serialize(mask=False)

    def _next_due(self, connection: EngineConnection, now: float) -> float:
        """When something may next be due for ``connection`` (strictly after ``now``)."""
        settings = self.settings
        due = connection.next_ping_at if settings.ping_interval else math.inf
        unanswered = connection.unanswered_since
        if unanswered is not None and settings.ping_timeout:
            due = min(due, unanswered + settings.ping_timeout)
        if settings.read_timeout and self._read_look is not None:
            due = min(due, connection.idle_since + settings.read_timeout, now + self._read_look)
        return due

    def _check(
        self,
        connection: EngineConnection,
        now: float,
        nursery: trio.Nursery,
        frame: tuple[bytes, bytes] | None,
    ) -> float | None:
        """Act on what is due for ``connection``; when to look again (``None``: never)."""
        settings = self.settings
        if not connection.open:
            return None
        connection.shed_buffers()
        if settings.read_timeout:
            if connection.reads_seen != connection.reads or not connection.reading:
                connection.reads_seen = connection.reads
                connection.idle_since = now
            elif now - connection.idle_since >= settings.read_timeout:
                connection.abort()
                return None
        unanswered = connection.unanswered_since
        if (
            unanswered is not None
            and settings.ping_timeout
            and now - unanswered >= settings.ping_timeout
        ):
            nursery.start_soon(connection.fail_keepalive)
            return None
        if frame is not None and self._ping_due(connection, now):
            assert settings.ping_interval
            connection.next_ping_at = now + settings.ping_interval
            payload, ping = frame
            if not connection.ping_now(payload, ping):  # no task when it can go out at once
                nursery.start_soon(connection.ping, payload)
        return self._next_due(connection, now)

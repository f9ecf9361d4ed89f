"""``KeepaliveTimer``: one task that pings, times out pongs and idle reads for a whole server.

Per connection there is no task and no timer: each tick walks the open websockets and

* pings each one whose ``ping_interval`` elapsed: written at once when its application is
  reading (it reads the pong), else by a short-lived task that also reads for the pong;
* closes with 1011 each one whose pong is ``ping_timeout`` late (the application sees the
  disconnect, a blocked ``send`` or ``receive`` is woken by aborting the socket);
* aborts each one that has been reading for ``read_timeout`` without receiving anything.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Final

import trio

if TYPE_CHECKING:
    from ._connection import EngineConnection, EngineSettings

__all__ = ["KeepaliveTimer"]

_MIN_TICK: Final = 0.05
_MAX_TICK: Final = 1.0


class KeepaliveTimer:
    """The keepalive of every engine connection of one server."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.connections: set[EngineConnection] = set()
        periods = [
            period
            for period in (settings.ping_interval, settings.ping_timeout, settings.read_timeout)
            if period
        ]
        self.tick = min(_MAX_TICK, max(_MIN_TICK, min(periods) / 4)) if periods else None
        self._payloads = itertools.count()

    def add(self, connection: EngineConnection) -> None:
        """Start watching an accepted connection (its first ping is one interval away)."""
        now = trio.current_time()
        connection.idle_since = now
        if self.settings.ping_interval:
            connection.next_ping_at = now + self.settings.ping_interval
        self.connections.add(connection)

    def discard(self, connection: EngineConnection) -> None:
        """Stop watching a connection."""
        self.connections.discard(connection)

    async def run(self, nursery: trio.Nursery) -> None:
        """Tick until cancelled; pings and failures run as short tasks in ``nursery``.

        Cancellation: the only way it ends.
        """
        if self.tick is None:
            await trio.sleep_forever()
        assert self.tick is not None
        seen: dict[EngineConnection, int] = {}
        while True:
            await trio.sleep(self.tick)
            now = trio.current_time()
            for connection in list(self.connections):
                self._check(connection, now, nursery, seen)
            for gone in seen.keys() - self.connections:
                del seen[gone]

    def _check(
        self,
        connection: EngineConnection,
        now: float,
        nursery: trio.Nursery,
        seen: dict[EngineConnection, int],
    ) -> None:
        settings = self.settings
        if not connection.open:
            self.connections.discard(connection)
            return
        if settings.read_timeout:
            if seen.get(connection) != connection.reads or not connection.reading:
                seen[connection] = connection.reads
                connection.idle_since = now
            elif now - connection.idle_since > settings.read_timeout:
                self.connections.discard(connection)
                connection.abort()
                return
        unanswered = connection.unanswered_since
        if (
            unanswered is not None
            and settings.ping_timeout
            and now - unanswered > settings.ping_timeout
        ):
            self.connections.discard(connection)
            nursery.start_soon(connection.fail_keepalive)
            return
        if settings.ping_interval and now >= connection.next_ping_at:
            connection.next_ping_at = now + settings.ping_interval
            payload = next(self._payloads).to_bytes(4, "big")
            if not connection.ping_now(payload):  # no task when the ping can go out at once
                nursery.start_soon(connection.ping, payload)

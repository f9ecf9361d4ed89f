"""Who is in which chat room, and how to send to all of them (shared by the two app examples).

Sending to *other* connections is where a chat server meets other clients' disconnects: a
member who has just left raises ``WebSocketDisconnect`` for *their* connection. That is caught
per peer here, so one departure never ends the sender's own connection. For rooms across
processes, or with slow members, use ``trio_ws.Broadcast`` instead.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from typing import TYPE_CHECKING

from trio_ws import WebSocketDisconnect

if TYPE_CHECKING:
    from collections.abc import Iterator

    from trio_ws import WebSocket


class Rooms:
    """Room name -> the connections in it."""

    def __init__(self) -> None:
        self._members: defaultdict[str, set[WebSocket]] = defaultdict(set)

    def members(self, room: str) -> int:
        """How many connections are in ``room``."""
        return len(self._members.get(room, ()))

    @contextmanager
    def joined(self, room: str, ws: WebSocket) -> Iterator[None]:
        """``ws`` is a member of ``room`` for the duration of the ``with`` block."""
        self._members[room].add(ws)
        try:
            yield
        finally:
            self._members[room].discard(ws)
            if not self._members[room]:
                del self._members[room]

    async def send(self, room: str, text: str) -> None:
        """Send ``text`` to every member of ``room``; members who have left are skipped."""
        for member in list(self._members.get(room, ())):
            try:
                await member.send_text(text)
            except WebSocketDisconnect:
                pass  # that member left meanwhile; their own handler is ending

"""``AccessLog``: one line per websocket when it ends, and one per refused handshake.

Lines go to the ``"trio_ws.access"`` logger at INFO (``python -m trio_ws --access-log`` sends
that logger to standard error). Their shape::

    127.0.0.1:51234 "WS /chat" 101 12.031s close 1000 "bye" by client, 14 in 20 out
    127.0.0.1:51240 "WS /chat" 403 0.002s refused by origin: Origin not allowed (Origin: https://evil.example)

The path is printed without its query string (tokens often travel there).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, final

from ._observe import ServerObserver

if TYPE_CHECKING:
    from ._observe import ConnectionEnd, HandshakeRefused, ObservedConnection

__all__ = ["AccessLog"]


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@final
class AccessLog(ServerObserver):
    """An observer that writes the access log.

    Args:
      logger: where the lines go (default: ``logging.getLogger("trio_ws.access")``, INFO).
    """

    __slots__ = ("logger",)

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger if logger is not None else logging.getLogger("trio_ws.access")

    def connection_ended(self, connection: ObservedConnection, end: ConnectionEnd) -> None:
        """Log the websocket: address, path, 101, duration, close code and reason, closer."""
        self.logger.info(
            "%s %s 101 %.3fs close %d %s by %s, %d in %d out",
            end.client,
            _quoted("WS " + end.path),
            end.duration,
            end.code,
            _quoted(end.reason),
            end.closed_by,
            end.messages_received,
            end.messages_sent,
        )

    def handshake_refused(self, refusal: HandshakeRefused) -> None:
        """Log the refusal: address, path, status, duration, and which check refused why."""
        self.logger.info(
            "%s %s %d %.3fs refused by %s: %s",
            refusal.client,
            _quoted("WS " + refusal.path),
            refusal.status,
            refusal.duration,
            refusal.guard,
            refusal.reason,
        )

"""``EngineReporter``: turns what the engine's connections did into `ServerObserver` events.

The server calls it at three points of a connection (prepared, accepted, ended), the
connection when the application refuses its handshake, and the server when the engine itself
refuses one; it reads the connection's answer (``status``), its end
(``ending()``) and its message counters, the refusal note the application layer left in
the scope, and the rule an accept broke when the engine refused it (``refused_because``).
Nothing here runs per message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

import attrs
import trio

from ._observe import (
    ConnectionEnd,
    HandshakeRefused,
    ServerObserver,
    format_address,
    refusal_from_scope,
    safely,
)

if TYPE_CHECKING:
    from websockets.http11 import Response

    from ._engine import EngineConnection, Upgrade
    from ._types import Scope

__all__ = ["EngineReporter"]


def _peer_address(stream: trio.abc.Stream) -> str:
    try:
        transport: Any = getattr(stream, "transport_stream", stream)
        return format_address(transport.socket.getpeername())
    except (AttributeError, OSError):
        return "-"


@final
class EngineReporter:
    """Reports one server's engine connections to ``observer``."""

    __slots__ = ("_watched", "observer")

    def __init__(self, observer: ServerObserver) -> None:
        self.observer = observer
        #: The connections running the application: their scope and start time.
        self._watched: dict[EngineConnection, tuple[Scope, float]] = {}

    def refused_by_engine(
        self, stream: trio.abc.Stream, upgrade: Upgrade, response: Response
    ) -> None:
        """The engine answered a malformed upgrade request with ``response``."""
        detail = upgrade.protocol.handshake_exc or "malformed Sec-WebSocket-Protocol"
        refusal = HandshakeRefused(
            client=_peer_address(stream),
            path=upgrade.request.path,
            status=response.status_code,
            reason=str(detail),
            guard="handshake",
            duration=0.0,
        )
        safely("handshake_refused", self.observer.handshake_refused, refusal)

    def watch(self, connection: EngineConnection, scope: Scope) -> None:
        """``connection`` is about to run the application on ``scope``."""
        self._watched[connection] = (scope, trio.current_time())
        connection.on_round_trip = self._round_trip
        connection.on_refuse = self._refused

    def accepted(self, connection: EngineConnection) -> None:
        """The application accepted ``connection``."""
        safely("connection_accepted", self.observer.connection_accepted, connection)

    def _refused(self, connection: EngineConnection) -> None:
        """The application answered ``connection``'s handshake with an HTTP error."""
        scope, started = self._watched[connection]
        status = connection.status or 500
        refusal = refusal_from_scope(scope, status, trio.current_time() - started)
        rule = connection.exchange.refused_because
        if rule is not None:  # the engine refused the application's accept, not the handler
            refusal = attrs.evolve(refusal, guard="handshake", reason=rule)
        safely("handshake_refused", self.observer.handshake_refused, refusal)

    def ended(self, connection: EngineConnection, scope: Scope) -> None:
        """``connection`` ended: report how, if it was accepted."""
        _, started = self._watched.pop(connection, (scope, trio.current_time()))
        duration = trio.current_time() - started
        if connection.status == 101:
            code, reason, closed_by = connection.ending()
            end = ConnectionEnd(
                client=format_address(scope.get("client")),
                path=str(scope.get("path", "")),
                duration=duration,
                code=code,
                reason=reason,
                closed_by="server" if closed_by == "server" else "client",
                messages_received=connection.messages_received,
                messages_sent=connection.messages_sent,
            )
            safely("connection_ended", self.observer.connection_ended, connection, end)

    def _round_trip(self, seconds: float) -> None:
        safely("keepalive_round_trip", self.observer.keepalive_round_trip, seconds)

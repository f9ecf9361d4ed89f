"""What the server reports as it runs: one small interface that metrics and the access log use.

`trio_ws.serve` (its websocket engine) calls a `ServerObserver` at four moments of a
websocket's life::

    handshake ──refused──> handshake_refused(HandshakeRefused)        (no websocket)
        │
        └─accepted──> connection_accepted(connection)
                          │   messages in/out: counted on the connection, not reported
                          │   keepalive pong:  keepalive_round_trip(seconds)
                          └─> connection_ended(connection, ConnectionEnd)

Messages are the per-message path, so they are not calls: each connection counts them in two
integer attributes (``messages_received``, ``messages_sent``; whole messages, not frames), which
an observer reads when it wants to (the metrics read the open connections' counters at scrape
time, the access log reads them once at the end). With no observer nothing else happens.

Why a handshake was refused reaches the observer through the ``"trio_ws.refusal"`` scope
extension: the application layer writes ``{"guard": ..., "detail": ...}`` into it
(`trio_ws._refusal`) without knowing about the server.

Observers are called synchronously from the server's tasks: they must not block. An observer
that raises is logged once per call and otherwise ignored; the connection carries on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal, Protocol

import attrs

from ._refusal import REFUSAL_EXTENSION

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ._types import Scope

__all__ = [
    "ClosedBy",
    "ConnectionEnd",
    "HandshakeRefused",
    "ObservedConnection",
    "ObserverGroup",
    "ServerObserver",
    "format_address",
]

logger = logging.getLogger("trio_ws.server")

#: Who started the end of a websocket: the side that sent the first close frame, or that
#: dropped the TCP connection without one (a client gone, or the server aborting it).
ClosedBy = Literal["client", "server"]


class ObservedConnection(Protocol):
    """What an observer may read on an open connection (the engine's connection has it)."""

    #: Whole messages the application received from the client so far.
    messages_received: int
    #: Whole messages the application sent to the client so far.
    messages_sent: int


@attrs.frozen
class HandshakeRefused:
    """A websocket handshake that did not become a websocket.

    Attributes:
      client: the client's address, ``"host:port"``.
      path: the request path.
      status: the HTTP status it was answered with (400, 403, 500, an application's 401...).
      reason: why, in words (``"origin: Origin not allowed"``).
      guard: which check refused: ``"origin"``, ``"authenticate"``, ``"subprotocol"``,
        ``"limits"`` (the accept timeout), ``"handshake"`` (the server found the request
        malformed, or refused an accept that breaks the protocol: a subprotocol the client
        did not offer, headers it cannot send), ``"application"`` (the handler denied, closed
        before accepting or failed).
      duration: seconds from the upgrade request to the answer (reported when the answer is
        sent, before the connection's closing handshake).
    """

    client: str
    path: str
    status: int
    reason: str
    guard: str
    duration: float


@attrs.frozen
class ConnectionEnd:
    """How an accepted websocket ended.

    Attributes:
      client: the client's address, ``"host:port"``.
      path: the request path.
      duration: seconds from the upgrade request to the end of the connection.
      code: the close code (1006 when the TCP connection ended without a close frame).
      reason: the close reason (``""`` when none was given).
      closed_by: ``"client"`` or ``"server"`` (see `ClosedBy`).
      messages_received, messages_sent: whole messages in each direction.
    """

    client: str
    path: str
    duration: float
    code: int
    reason: str
    closed_by: ClosedBy
    messages_received: int
    messages_sent: int


class ServerObserver:
    """Receives the server's events. Every method does nothing; override the ones you need.

    Pass an instance to `trio_ws.serve` (``observer=...``); `trio_ws.observe.AccessLog` and
    `trio_ws.metrics.PrometheusMetrics` are observers, and `ObserverGroup` combines several.
    Methods are called synchronously in the server's tasks: they must return quickly and not
    block.
    """

    def connection_accepted(self, connection: ObservedConnection) -> None:
        """The application accepted a websocket (the 101 response went out)."""

    def connection_ended(self, connection: ObservedConnection, end: ConnectionEnd) -> None:
        """An accepted websocket ended; ``connection``'s counters hold their final values."""

    def handshake_refused(self, refusal: HandshakeRefused) -> None:
        """A websocket handshake was answered with an HTTP error instead of a 101."""

    def keepalive_round_trip(self, seconds: float) -> None:
        """A keepalive ping's pong came back after ``seconds``."""


@attrs.frozen
class ObserverGroup(ServerObserver):
    """Several observers as one; each event goes to each observer in order (one that raises
    is logged, and the others still get the event)."""

    observers: tuple[ServerObserver, ...]

    def connection_accepted(self, connection: ObservedConnection) -> None:
        for observer in self.observers:
            safely("connection_accepted", observer.connection_accepted, connection)

    def connection_ended(self, connection: ObservedConnection, end: ConnectionEnd) -> None:
        for observer in self.observers:
            safely("connection_ended", observer.connection_ended, connection, end)

    def handshake_refused(self, refusal: HandshakeRefused) -> None:
        for observer in self.observers:
            safely("handshake_refused", observer.handshake_refused, refusal)

    def keepalive_round_trip(self, seconds: float) -> None:
        for observer in self.observers:
            safely("keepalive_round_trip", observer.keepalive_round_trip, seconds)


def combine(observers: Iterable[ServerObserver | None]) -> ServerObserver | None:
    """One observer for the given ones (``None`` entries skipped); ``None`` if there are none."""
    present = [observer for observer in observers if observer is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else ObserverGroup(tuple(present))


def format_address(address: object) -> str:
    """``("127.0.0.1", 5000)`` as ``"127.0.0.1:5000"``; anything else as ``str``."""
    if isinstance(address, (tuple, list)) and len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return "-" if address is None else str(address)


#: Reasons given for an application's refusal when no guard named one.
_APPLICATION_REASONS = {
    403: "the handler closed before accepting",
    500: "the handler failed before accepting",
}


def refusal_from_scope(scope: Scope, status: int, duration: float) -> HandshakeRefused:
    """The refusal of a handshake the application answered with ``status``, with its reason."""
    note = (scope.get("extensions") or {}).get(REFUSAL_EXTENSION) or {}
    guard = str(note.get("guard") or "application")
    reason = str(note.get("detail") or "")
    if not reason:
        reason = _APPLICATION_REASONS.get(status, "the handler sent a denial response")
    return HandshakeRefused(
        client=format_address(scope.get("client")),
        path=str(scope.get("path", "")),
        status=status,
        reason=reason,
        guard=guard,
        duration=duration,
    )


def safely(what: str, call: Callable[..., object], *args: object) -> None:
    """Call an observer method; log (not raise) what it raises."""
    try:
        call(*args)
    except Exception:
        logger.exception("trio_ws: the server observer failed in %s; the server carries on", what)

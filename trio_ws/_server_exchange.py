"""The ASGI websocket exchange seen from the server: one pure state machine for every server.

`trio_ws._protocol.Exchange` is the application's side of the seam; `ServerExchange` is the
server's. The engine of ``trio_ws.serve`` and the in-memory emulator of ``trio_ws.testing``
both drive it: each hands it every message the application passes to ``send`` and performs
the typed event it returns (write a 101, a frame, a close frame, an HTTP response). Neither
keeps state of its own about the exchange. No trio and no I/O here: every rule is tested
synchronously (``tests/protocol/test_server_exchange.py``).

Which application message is legal when is `_protocol.application_step`'s table, the same one
the application side obeys; the payload rules are `_protocol`'s validators. What this module
adds is what only a server decides (``websocket.`` prefixes omitted)::

    HANDSHAKE --accept---------------------------> OPEN --close--> APP_CLOSED (close again: ignored)
        |---close (HTTP 403)-----------------------------------> REFUSED
        '---http.response.start--> RESPONSE --http.response.body(more_body=False)--> REFUSED
    OPEN --the server closes on its own (shutdown)--> SERVER_CLOSED (send and close: dropped)

and the end of the connection, recorded once (`ServerExchange.record_end`): from then on the
application's ``send`` raises `ClientGone` (an ``OSError``, ASGI 2.4), a close is ignored, and
``receive`` gets the ``websocket.disconnect`` with the code and reason recorded.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final

import attrs

from ._exceptions import LocalProtocolError
from ._protocol import (
    CLOSED_BY_KEY,
    CONNECTED,
    CONNECTING,
    DENIAL_EXTENSION,
    DISCONNECTED,
    RESPONSE,
    WebSocketState,
    application_step,
    close_fields,
    response_body_fields,
    response_start_fields,
    send_payload,
    validate_accept_headers,
    validate_subprotocol,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Self

    from ._types import Message

__all__ = [
    "CLOSED_BY_KEY",
    "Accepted",
    "AppClosed",
    "ClientGone",
    "DataSent",
    "Event",
    "InvalidAccept",
    "Rejected",
    "ServerExchange",
    "ServerState",
]


class ServerState(enum.Enum):
    """Where the exchange stands, from the server's point of view."""

    #: ``websocket.connect`` is delivered or due; the application has not answered yet.
    HANDSHAKE = "handshake"
    #: The application started a denial response and is sending its body.
    RESPONSE = "response"
    #: Accepted: messages flow both ways.
    OPEN = "open"
    #: The application sent ``websocket.close`` after accepting.
    APP_CLOSED = "app closed"
    #: The server closed the websocket on its own (shutdown): the application's sends and
    #: closes are dropped, as after the client left.
    SERVER_CLOSED = "server closed"
    #: No websocket: the application closed before accepting, denied, accepted with what the
    #: client cannot be sent, or ended without answering.
    REFUSED = "refused"


# The server state as the application-side table sees it (`application_step`).
_AS_APPLICATION_STATE: Final = {
    ServerState.HANDSHAKE: CONNECTING,
    ServerState.RESPONSE: RESPONSE,
    ServerState.OPEN: CONNECTED,
    ServerState.APP_CLOSED: DISCONNECTED,
    ServerState.SERVER_CLOSED: DISCONNECTED,
    ServerState.REFUSED: DISCONNECTED,
}
# Where a legal message leads: (state before, application state after) -> state after.
_AFTER: Final[dict[tuple[ServerState, WebSocketState], ServerState]] = {
    (ServerState.HANDSHAKE, CONNECTED): ServerState.OPEN,
    (ServerState.HANDSHAKE, DISCONNECTED): ServerState.REFUSED,
    (ServerState.HANDSHAKE, RESPONSE): ServerState.RESPONSE,
    (ServerState.RESPONSE, RESPONSE): ServerState.RESPONSE,
    (ServerState.RESPONSE, DISCONNECTED): ServerState.REFUSED,
    (ServerState.OPEN, CONNECTED): ServerState.OPEN,
    (ServerState.OPEN, DISCONNECTED): ServerState.APP_CLOSED,
}
# The states in which the websocket was accepted (the 101 went out).
_ACCEPTED: Final = frozenset([ServerState.OPEN, ServerState.APP_CLOSED, ServerState.SERVER_CLOSED])
_KNOWN_TYPES: Final = frozenset(
    [
        "websocket.accept",
        "websocket.send",
        "websocket.close",
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
)
_DENIAL_TYPES: Final = frozenset(["websocket.http.response.start", "websocket.http.response.body"])
_SEND: Final = "websocket.send"
_CLOSE: Final = "websocket.close"
_OPEN: Final = ServerState.OPEN


@attrs.frozen
class Accepted:
    """Answer the handshake with 101: the application accepted."""

    subprotocol: str | None
    headers: list[tuple[bytes, bytes]]


@attrs.frozen
class Rejected:
    """Answer the handshake with this HTTP response instead of a websocket."""

    status_code: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@attrs.frozen
class DataSent:
    """Send one message to the client."""

    data: str | bytes


@attrs.frozen
class AppClosed:
    """Send a close frame: the application (or the server, for shutdown) closed."""

    code: int
    reason: str


Event = Accepted | Rejected | DataSent | AppClosed


class ClientGone(OSError):
    """``send`` on a websocket whose client has left (ASGI 2.4's ``OSError``)."""


class InvalidAccept(LocalProtocolError):
    """The application accepted with a subprotocol the client did not offer, or with headers
    that cannot be sent. The handshake is refused: answer the client with `response`.

    Attributes:
      response: what the client gets instead of the websocket: HTTP 400 for a subprotocol it
        did not offer, HTTP 500 for headers the server cannot send (the application's bug).
    """

    def __init__(self, message: str, response: Rejected) -> None:
        super().__init__(message)
        self.response = response


@attrs.define(eq=False)
class ServerExchange:
    """The server side of one ASGI websocket exchange.

    Attributes:
      offered_subprotocols: what the client offered; an accept names one of them or none.
      denial_supported: whether the server offers the ``websocket.http.response`` extension.
      state: the current `ServerState`.
      end: ``(code, reason)`` of the ``websocket.disconnect`` the application gets, once the
        connection has ended (`record_end`); ``None`` before.
      ended_by_server: whether the server ended it itself (see `CLOSED_BY_KEY`).
      refused_because: the rule of the protocol an accept broke (an unoffered subprotocol,
        headers that cannot be sent), when the server refused the handshake itself
        (`InvalidAccept`); ``None`` otherwise. An access log names it instead of the
        application.
    """

    offered_subprotocols: tuple[str, ...]
    denial_supported: bool
    state: ServerState = ServerState.HANDSHAKE
    end: tuple[int, str] | None = None
    ended_by_server: bool = False
    refused_because: str | None = None
    _denial: tuple[int, list[tuple[bytes, bytes]]] | None = None
    _denial_body: list[bytes] | None = None  # made by a denial's start: not per connection

    @classmethod
    def for_scope(cls, subprotocols: Iterable[str], extensions: Mapping[str, object]) -> Self:
        """The machine for a scope's ``subprotocols`` and ``extensions``."""
        return cls(tuple(str(name) for name in subprotocols), DENIAL_EXTENSION in extensions)

    # ------------------------------------------------------------------ what the server asks

    @property
    def accepted(self) -> bool:
        """Whether the application accepted (the 101 went out)."""
        return self.state in _ACCEPTED

    @property
    def open(self) -> bool:
        """Whether messages still flow: accepted, not closed, and no end recorded."""
        return self.state is _OPEN and self.end is None

    def disconnect_message(self) -> Message:
        """The ``websocket.disconnect`` for the recorded end (1006 if none was recorded), with
        ``CLOSED_BY_KEY`` when the server ended the connection itself."""
        code, reason = (1006, "") if self.end is None else self.end
        message: Message = {"type": "websocket.disconnect", "code": code, "reason": reason}
        if self.ended_by_server:
            message[CLOSED_BY_KEY] = "server"
        return message

    # ------------------------------------------------------------------ the application's send

    def check_type(self, message: object) -> str:
        """Return the message's ``type`` if a server knows it.

        Raises:
          LocalProtocolError: not a mapping, an unknown ``type``, or a denial message when
            the server does not offer the extension.
        """
        if not isinstance(message, dict):
            raise LocalProtocolError(f"an ASGI message must be a dict, got {message!r}")
        kind = message.get("type")
        if kind not in _KNOWN_TYPES:
            raise LocalProtocolError(f"unknown ASGI websocket message type {kind!r}")
        if kind in _DENIAL_TYPES and not self.denial_supported:
            raise LocalProtocolError(
                f"{kind!r}: this server does not support the {DENIAL_EXTENSION} extension"
            )
        return str(kind)

    def data_to_send(self, message: Message) -> str | bytes | bytearray | memoryview | None:
        """The payload of a ``websocket.send`` to write now, or ``None`` when it is dropped
        (the server closed for shutdown). The per-message path of `app_sends`: no event is
        built, nothing changes.

        Raises:
          ClientGone: the connection has ended.
          LocalProtocolError: not accepted yet, already closed, or a malformed message.
        """
        if self.state is _OPEN and self.end is None:
            try:
                return send_payload(message)
            except TypeError as exc:
                raise LocalProtocolError(f"{_SEND}: {exc}") from None
        self.app_sends(message)  # outside OPEN a send raises, or is dropped
        return None

    def app_sends(self, message: Message) -> Event | None:
        """Validate a message the application passed to ``send``, advance, return its event.

        Returns ``None`` for a message that changes nothing the client can see: the start and
        the non-final body chunks of a denial, a close after the application closed or the
        connection ended, a send or close after the server closed for shutdown.

        Raises:
          InvalidAccept: an accept the client cannot be sent; the state is REFUSED and the
            client is to get the error's ``response``.
          ClientGone: the connection has ended (`record_end`).
          LocalProtocolError: an unknown, malformed or illegal message; nothing changes.
        """
        kind = self.check_type(message)
        state = self.state
        if state is ServerState.SERVER_CLOSED and kind in (_SEND, _CLOSE):
            return None
        if state is ServerState.APP_CLOSED and kind == _CLOSE:
            return None  # hypercorn accepts a repeated close silently; so do we
        after = _AFTER[state, application_step(_AS_APPLICATION_STATE[state], kind)]
        if self.end is not None:
            if state is ServerState.HANDSHAKE or state is ServerState.RESPONSE:
                self.state = ServerState.REFUSED  # the client left before the answer
            raise ClientGone(f"{kind!r}: the client has left the websocket")
        try:
            return self._event_for(kind, message, after)
        except (TypeError, ValueError) as exc:
            raise LocalProtocolError(f"{kind}: {exc}") from None

    def _event_for(self, kind: str, message: Message, after: ServerState) -> Event | None:
        if kind == _SEND:
            payload = send_payload(message)
            return DataSent(payload if isinstance(payload, str) else bytes(payload))
        if kind == "websocket.accept":
            return self._accept(message, after)
        if kind == _CLOSE:
            if self.state is ServerState.HANDSHAKE:
                self.state = after
                return Rejected(403, [], b"")
            code, reason = close_fields(message)
            self.state = after
            return AppClosed(code, reason)
        if kind == "websocket.http.response.start":
            self._denial = response_start_fields(message)
            self._denial_body = []
            self.state = after
            return None
        body, more_body = response_body_fields(message)
        assert self._denial is not None  # RESPONSE follows the response start
        assert self._denial_body is not None
        self._denial_body.append(bytes(body))
        if more_body:
            return None
        self.state = ServerState.REFUSED
        status, headers = self._denial
        return Rejected(status, headers, b"".join(self._denial_body))

    def _accept(self, message: Message, after: ServerState) -> Accepted:
        try:
            subprotocol = validate_subprotocol(
                message.get("subprotocol"), self.offered_subprotocols
            )
        except (TypeError, ValueError) as exc:
            self.state = ServerState.REFUSED
            self.refused_because = str(exc)
            unsupported = Rejected(400, [], b"Unsupported WebSocket subprotocol\n")
            raise InvalidAccept(
                f"{exc}; the client was answered with HTTP 400", unsupported
            ) from None
        try:
            headers = validate_accept_headers(message.get("headers"))
        except (TypeError, ValueError) as exc:
            self.state = ServerState.REFUSED
            self.refused_because = f"accept headers cannot be set as given: {exc}"
            error = f"{self.refused_because}; the client got HTTP 500"
            raise InvalidAccept(error, Rejected(500, [], b"")) from None
        self.state = after
        return Accepted(subprotocol, headers)

    # ------------------------------------------------------------------ the server's own moves

    def record_end(self, code: int, reason: str, *, by_server: bool = False) -> None:
        """The connection ended with this code and reason (the first end recorded wins):
        the client's close, a drop (1006), a failure the server closed with (1002, 1007,
        1009, 1011; ``by_server``) or the server's shutdown code."""
        if self.end is None:
            self.end = (int(code), reason)  # int(): a CloseCode enum becomes a plain int
            self.ended_by_server = by_server

    def server_closes(self, code: int, reason: str) -> AppClosed | None:
        """The server closes an open websocket on its own (shutdown): the close frame to send,
        or ``None`` when the websocket is not open. The application's later sends and closes
        are dropped."""
        if self.state is not _OPEN:
            return None
        self.state = ServerState.SERVER_CLOSED
        return AppClosed(code, reason)

    def app_finished(self) -> Rejected | AppClosed | None:
        """The application returned or raised: what the server still has to send.

        Before an answer (or during a denial): HTTP 500. Accepted and still open: close 1011.
        Otherwise nothing.
        """
        state = self.state
        if state is ServerState.HANDSHAKE or state is ServerState.RESPONSE:
            self.state = ServerState.REFUSED
            return Rejected(500, [], b"")
        if state is _OPEN:
            self.state = ServerState.APP_CLOSED
            return AppClosed(1011, "") if self.end is None else None
        return None

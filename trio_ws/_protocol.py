"""The ASGI websocket exchange as a pure state machine: every rule of it lives here.

Under an ASGI server the WebSocket framing is already done (by wsproto, in hypercorn). What is
left for us is the *ASGI message exchange*::

    server → app   websocket.connect
    app → server   websocket.accept | websocket.close (→ HTTP 403)
                   | websocket.http.response.start, websocket.http.response.body...
    server → app   websocket.receive ...        app → server   websocket.send ...
    either side    websocket.disconnect (server → app) | websocket.close (app → server)

`Exchange` owns the two states (``client_state`` follows what the server told us,
``application_state`` what the application sent) and turns each ASGI message into a validated
transition. It never performs I/O and never imports trio: the trio layer in
`trio_ws._websocket` awaits the ASGI callables and asks the exchange, before every send and
after every receive, whether the message is legal and what it means. Any bug that can be
reproduced without ``await`` belongs here and is tested synchronously.

Rule of thumb for this file (after h11's ``_state.py``): a transition is data in
``_CLIENT_TRANSITIONS`` / ``_APPLICATION_TRANSITIONS``; what does not fit the tables (payload
validation, close bookkeeping) is still written in this module and nowhere else.

The server's side of the same exchange is `trio_ws._server_exchange.ServerExchange`: it obeys
the same application table (`application_step`) and the same payload rules (`send_payload`,
`close_fields`, `response_start_fields`, `response_body_fields`, `validate_subprotocol`,
`validate_accept_headers`), so a rule of the exchange is written once for both sides.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final, Literal

from ._exceptions import (
    InvalidModeError,
    LocalProtocolError,
    RemoteProtocolError,
    UnexpectedMessageType,
    WebSocketDisconnect,
    WebSocketDisconnected,
)
from ._serve_extension import shutdown_extension

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._types import Message, Scope
    from ._websocket import WebSocket

__all__ = [
    "CANCEL_SAFE_SEND_EXTENSION",
    "CLOSED_BY_KEY",
    "DENIAL_EXTENSION",
    "SEND_FRAME_NOWAIT_EXTENSION",
    "ClosedBy",
    "Exchange",
    "WebSocketState",
    "MessageKind",
    "PeerState",
    "accept_fields",
    "application_step",
    "close_fields",
    "message_kind",
    "response_body_fields",
    "response_start_fields",
    "send_payload",
    "subprotocol_offered",
    "validate_accept_headers",
    "validate_close",
    "validate_headers",
    "validate_status",
    "validate_subprotocol",
]


class WebSocketState(enum.Enum):
    """Where one side of the exchange stands (Starlette's names and values)."""

    #: The handshake is not finished: no ``websocket.connect`` yet (client side), or neither
    #: accept, close nor a denial response sent yet (application side).
    CONNECTING = 0
    #: Messages may flow.
    CONNECTED = 1
    #: This side is finished: a ``websocket.disconnect`` was received (client side), or a
    #: ``websocket.close`` or the last body of a denial response was sent (application side).
    DISCONNECTED = 2
    #: The application is sending a denial response (application side only).
    RESPONSE = 3


class ClosedBy(enum.Enum):
    """Who ended the connection, as recorded in ``WebSocket.closed_by``."""

    #: The client closed, or the connection was lost (``close_code`` 1006 when it dropped).
    CLIENT = "client"
    #: The application closed (or denied the handshake).
    APP = "app"
    #: The server was shutting down and the connection was closed on its behalf.
    SERVER_SHUTDOWN = "server_shutdown"
    #: The application failed; the connection was closed with 1011.
    ERROR = "error"
    #: The server ended the connection itself: the client broke the protocol (1002, 1007),
    #: exceeded a limit (1009), did not answer pings (1011), or its socket was aborted (1006).
    #: Reported by trio_ws.serve (the ``CLOSED_BY_KEY`` of ``websocket.disconnect``).
    SERVER = "server"


CONNECTING: Final = WebSocketState.CONNECTING
CONNECTED: Final = WebSocketState.CONNECTED
DISCONNECTED: Final = WebSocketState.DISCONNECTED
RESPONSE: Final = WebSocketState.RESPONSE

_CONNECT = "websocket.connect"
_RECEIVE = "websocket.receive"
_DISCONNECT = "websocket.disconnect"
_ACCEPT = "websocket.accept"
_SEND = "websocket.send"
_CLOSE = "websocket.close"
_RESPONSE_START = "websocket.http.response.start"
_RESPONSE_BODY = "websocket.http.response.body"

#: Key of a ``websocket.disconnect`` message, with the value ``"server"``, when the server ended
#: the connection itself (a protocol error or limit: 1002, 1007, 1009; a keepalive timeout:
#: 1011; an aborted socket: 1006), so that it is not taken for the client's close
#: (`ClosedBy.SERVER`). trio_ws.serve's engine sets it.
CLOSED_BY_KEY: Final = "trio_ws.closed_by"
#: The ASGI extension that lets an application send an HTTP response instead of accepting.
DENIAL_EXTENSION: Final = "websocket.http.response"
#: A scope extension by which a server promises that its ``send`` is safe to cancel: if it
#: raises ``Cancelled`` the message was not sent and the connection is unchanged; otherwise the
#: message went out whole. trio_ws.serve and trio_ws.testing declare it. Without it, trio_ws
#: shields every ASGI send itself (hypercorn 0.18 drops an already-compressed frame when a
#: send is cancelled while it waits for its socket lock).
CANCEL_SAFE_SEND_EXTENSION: Final = "trio_ws.cancel_safe_send"
#: trio_ws.serve's engine: ``{"send_frame_nowait": callable}`` writes one already-framed,
#: uncompressed data frame at once if the socket takes it (compressing its payload first on a
#: permessage-deflate connection), else returns False (see _fanout).
SEND_FRAME_NOWAIT_EXTENSION: Final = "trio_ws.send_frame_nowait"


class PeerState(enum.Enum):
    """Where the client side of the exchange stands, as the application layer tracks it.

    Finer than `Exchange.client_state`, which reports it with Starlette's names (LEFT and
    CUT_OFF read as CONNECTED there: the disconnect has not been consumed yet).
    """

    #: No ``websocket.connect`` yet.
    CONNECTING = "connecting"
    #: Messages may arrive.
    CONNECTED = "connected"
    #: The server reported the end (or a send found the connection gone); the application has
    #: not consumed the ``websocket.disconnect`` yet. Sends fail from now on.
    LEFT = "left"
    #: trio_ws closed on the application's behalf (structured mode's inbound overflow): what
    #: was buffered before stays readable, then the end.
    CUT_OFF = "cut off"
    #: The ``websocket.disconnect`` was consumed.
    DISCONNECTED = "disconnected"


# Enum members as module constants: a class attribute lookup on an Enum costs about 0.15 µs
# on Python 3.11, and these are read on every message.
_PEER_CONNECTED: Final = PeerState.CONNECTED
_PEER_LEFT: Final = PeerState.LEFT
_PEER_CUT_OFF: Final = PeerState.CUT_OFF
_PEER_DISCONNECTED: Final = PeerState.DISCONNECTED

_PEER_AS_CLIENT_STATE: Final = {
    PeerState.CONNECTING: CONNECTING,
    PeerState.CONNECTED: CONNECTED,
    PeerState.LEFT: CONNECTED,
    PeerState.CUT_OFF: CONNECTED,
    PeerState.DISCONNECTED: DISCONNECTED,
}
_CLIENT_STATE_AS_PEER: Final = {
    CONNECTING: PeerState.CONNECTING,
    CONNECTED: PeerState.CONNECTED,
    RESPONSE: PeerState.CONNECTED,
    DISCONNECTED: PeerState.DISCONNECTED,
}

# Which message the server may deliver in each peer state, and where it leads.
_CLIENT_TRANSITIONS: Final[dict[PeerState, dict[str, PeerState]]] = {
    PeerState.CONNECTING: {_CONNECT: PeerState.CONNECTED},
    PeerState.CONNECTED: {_RECEIVE: PeerState.CONNECTED, _DISCONNECT: PeerState.DISCONNECTED},
    PeerState.LEFT: {
        _CONNECT: PeerState.LEFT,
        _RECEIVE: PeerState.LEFT,
        _DISCONNECT: PeerState.DISCONNECTED,
    },
    PeerState.CUT_OFF: {_RECEIVE: PeerState.CUT_OFF, _DISCONNECT: PeerState.DISCONNECTED},
    PeerState.DISCONNECTED: {},
}
# What the server reporting the end does to each peer state (`Exchange.peer_disconnected`).
_AFTER_PEER_LEFT: Final = {
    PeerState.CONNECTING: PeerState.LEFT,
    PeerState.CONNECTED: PeerState.LEFT,
    PeerState.LEFT: PeerState.LEFT,
    PeerState.CUT_OFF: PeerState.CUT_OFF,  # trio_ws already closed; the buffer is still read
    PeerState.DISCONNECTED: PeerState.DISCONNECTED,
}

# Which message the application may send in each application state, and where it leads.
# The body of a denial response leads to RESPONSE while more_body is true (see _next_app_state).
_APPLICATION_TRANSITIONS: Final[dict[WebSocketState, dict[str, WebSocketState]]] = {
    CONNECTING: {_ACCEPT: CONNECTED, _CLOSE: DISCONNECTED, _RESPONSE_START: RESPONSE},
    CONNECTED: {_SEND: CONNECTED, _CLOSE: DISCONNECTED},
    RESPONSE: {_RESPONSE_BODY: DISCONNECTED},
    DISCONNECTED: {},
}

#: Close codes an endpoint may send (RFC 6455 §7.4 and the IANA registry): 1004, 1005, 1006
#: and 1015 are reserved for reporting and must never appear in a close frame.
_SENDABLE_CLOSE_CODES: Final = frozenset(
    [*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)]
)
_MAX_REASON_BYTES: Final = 123
# RFC 9110 token characters: what a header name may be made of.
_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FORBIDDEN_ACCEPT_HEADERS: Final = frozenset([b"sec-websocket-protocol"])


class MessageKind(enum.Enum):
    """What an ASGI websocket message is, for code that only observes the exchange (the
    application layer's limits and handshake watch); `Exchange` validates it."""

    #: ``websocket.receive``: a message from the client.
    DATA_IN = "data in"
    #: ``websocket.disconnect``: the end of the connection, reported by the server.
    DISCONNECT = "disconnect"
    #: ``websocket.accept``: the application accepts the handshake.
    ACCEPT = "accept"
    #: ``websocket.close`` or ``websocket.http.response.start``: the application refuses or
    #: ends the connection (before the accept, either answers the handshake).
    REFUSAL_OR_CLOSE = "refusal or close"
    #: Anything else (``websocket.connect``, ``websocket.send``, a response body, unknown).
    OTHER = "other"


_MESSAGE_KINDS: Final = {
    _RECEIVE: MessageKind.DATA_IN,
    _DISCONNECT: MessageKind.DISCONNECT,
    _ACCEPT: MessageKind.ACCEPT,
    _CLOSE: MessageKind.REFUSAL_OR_CLOSE,
    _RESPONSE_START: MessageKind.REFUSAL_OR_CLOSE,
}


def message_kind(message: Message) -> MessageKind:
    """Classify an ASGI websocket message without validating it (never raises)."""
    kind = message.get("type")
    return (
        _MESSAGE_KINDS.get(kind, MessageKind.OTHER) if isinstance(kind, str) else MessageKind.OTHER
    )


def _never() -> bool:
    return False


def validate_close(code: object, reason: object) -> str:
    """Check a close code and reason that an application wants to send.

    Returns:
      The reason to put on the wire (``""`` for ``None``).

    Raises:
      TypeError: ``code`` is not an ``int`` or ``reason`` is neither ``str`` nor ``None``.
      ValueError: ``code`` is not one an endpoint may send (1000-1003, 1007-1014,
        3000-4999), or the reason is longer than 123 bytes in UTF-8.
    """
    if type(code) is not int:  # bool is an int subclass; True is not a close code
        raise TypeError(f"close code must be an int, not {type(code).__name__}")
    if code not in _SENDABLE_CLOSE_CODES:
        raise ValueError(
            f"close code {code} cannot be sent: use 1000-1003, 1007-1014 or 3000-4999 "
            "(1004, 1005, 1006 and 1015 are reserved, 4000-4999 are for applications)"
        )
    if reason is None:
        return ""
    if not isinstance(reason, str):
        raise TypeError(f"close reason must be a str or None, not {type(reason).__name__}")
    size = len(reason.encode("utf-8"))
    if size > _MAX_REASON_BYTES:
        raise ValueError(
            f"close reason is {size} bytes in UTF-8; a close frame allows at most "
            f"{_MAX_REASON_BYTES}"
        )
    return reason


def validate_headers(headers: object, what: str) -> list[tuple[bytes, bytes]]:
    """Check a list of ``(bytes, bytes)`` header pairs; return it as a list.

    Raises:
      TypeError: not a list of ``(bytes, bytes)`` pairs.
      ValueError: a name that is not an HTTP token, or CR/LF/NUL in a value.
    """
    if headers is None:
        return []
    if isinstance(headers, (str, bytes, Mapping)) or not isinstance(headers, Iterable):
        raise TypeError(f"{what} headers must be a list of (bytes, bytes) pairs")
    result: list[tuple[bytes, bytes]] = []
    for pair in headers:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"{what} headers must be (bytes, bytes) pairs, got {pair!r}")
        name, value = pair
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            raise TypeError(
                f"{what} header names and values must be bytes, got "
                f"({type(name).__name__}, {type(value).__name__})"
            )
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"{what} header name {name!r} is not a valid HTTP token")
        if b"\r" in value or b"\n" in value or b"\x00" in value:
            raise ValueError(f"{what} header {name!r} has CR, LF or NUL in its value")
        result.append((name, value))
    return result


def subprotocol_offered(subprotocol: object, offered: Iterable[str]) -> bool:
    """The subprotocol rule: an accept may name no subprotocol, or one the client offered.

    hypercorn 0.18 crashes the whole server on any other (docs/hypercorn-facts.md, fact 8).
    """
    return subprotocol is None or subprotocol in tuple(offered)


def validate_subprotocol(subprotocol: object, offered: Iterable[str]) -> str | None:
    """Check the subprotocol of an accept against what the client offered; return it.

    Raises:
      TypeError: neither a ``str`` nor ``None``.
      ValueError: the client did not offer it.
    """
    if subprotocol is not None and not isinstance(subprotocol, str):
        raise TypeError(f"subprotocol must be a str or None, not {type(subprotocol).__name__}")
    if not subprotocol_offered(subprotocol, offered):
        raise ValueError(
            f"cannot accept subprotocol {subprotocol!r}, which the client did not offer "
            f"(offered: {list(offered)!r})"
        )
    return subprotocol


def validate_status(status: object) -> int:
    """The HTTP status rule of a denial response: an ``int`` (not a ``bool``) in 100-599.

    Raises:
      TypeError: not an ``int``.
      ValueError: outside 100-599.
    """
    if type(status) is not int:
        raise TypeError(f"an HTTP status must be an int, not {type(status).__name__}")
    if not 100 <= status <= 599:
        raise ValueError(f"HTTP status {status} is out of range (100-599)")
    return status


def validate_accept_headers(headers: object) -> list[tuple[bytes, bytes]]:
    """Check the extra headers of a ``websocket.accept`` message; return them as a list.

    Raises:
      TypeError: not a list of ``(bytes, bytes)`` pairs.
      ValueError: a name that is not an HTTP token (pseudo-headers such as ``:status``
        included), CR/LF/NUL in a value, or ``sec-websocket-protocol`` (which the
        ``subprotocol`` key sets). hypercorn 0.18 crashes the whole server on some of these.
    """
    checked = validate_headers(headers, "accept")
    for name, _ in checked:
        if name.lower() in _FORBIDDEN_ACCEPT_HEADERS:
            raise ValueError(
                "do not set the sec-websocket-protocol header yourself: pass "
                "accept(subprotocol=...) instead"
            )
    return checked


def send_payload(message: Message) -> str | bytes | bytearray | memoryview:
    """The rule of a ``websocket.send`` message: exactly one of ``bytes`` (bytes-like) and
    ``text`` (``str``); return that payload.

    Raises:
      LocalProtocolError: both or neither are set.
      TypeError: the payload has the wrong type.
    """
    data = message.get("bytes")
    text = message.get("text")
    if data is not None:
        if text is not None:
            raise LocalProtocolError("a websocket.send message has both 'bytes' and 'text' set")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"'bytes' of websocket.send must be bytes-like, not {type(data).__name__}"
            )
        return data
    if text is not None:
        if not isinstance(text, str):
            raise TypeError(f"'text' of websocket.send must be a str, not {type(text).__name__}")
        return text
    raise LocalProtocolError("a websocket.send message needs 'bytes' or 'text'")


def accept_fields(
    message: Message, offered: Iterable[str]
) -> tuple[str | None, list[tuple[bytes, bytes]]]:
    """The rule of a ``websocket.accept`` message; return its subprotocol and extra headers.

    Raises:
      TypeError, ValueError: as `validate_subprotocol` and `validate_accept_headers`.
    """
    subprotocol = validate_subprotocol(message.get("subprotocol"), offered)
    return subprotocol, validate_accept_headers(message.get("headers"))


def close_fields(message: Message) -> tuple[int, str]:
    """The rule of a ``websocket.close`` message; return its code (1000 when absent or
    ``None``) and reason (``""`` when absent or ``None``).

    Raises:
      TypeError, ValueError: as `validate_close`.
    """
    code = message.get("code")
    if code is None:
        code = 1000
    return code, validate_close(code, message.get("reason"))


def response_start_fields(message: Message) -> tuple[int, list[tuple[bytes, bytes]]]:
    """The rule of a ``websocket.http.response.start`` message; return status and headers.

    Raises:
      TypeError, ValueError: as `validate_status` and `validate_headers`.
    """
    return validate_status(message.get("status")), validate_headers(
        message.get("headers"), "response"
    )


def response_body_fields(message: Message) -> tuple[bytes | bytearray | memoryview, bool]:
    """The rule of a ``websocket.http.response.body`` message; return body and ``more_body``.

    Raises:
      TypeError: the body is not bytes-like or ``more_body`` is not a bool.
    """
    body = message.get("body", b"")
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"'body' of a response must be bytes-like, not {type(body).__name__}")
    more_body = message.get("more_body", False)
    if not isinstance(more_body, bool):
        raise TypeError("'more_body' of a response must be a bool")
    return body, more_body


def application_step(state: WebSocketState, kind: object) -> WebSocketState:
    """Where a message of type ``kind`` from the application leads from ``state`` (the table
    ``_APPLICATION_TRANSITIONS``; a response body with ``more_body`` stays in RESPONSE, which
    the caller decides). Both sides of the exchange use this one rule.

    Raises:
      LocalProtocolError: ``kind`` is not legal in ``state``.
    """
    new_state = _APPLICATION_TRANSITIONS[state].get(kind) if isinstance(kind, str) else None
    if new_state is None:
        raise LocalProtocolError(_illegal_outgoing(state, kind))
    return new_state


class Exchange:
    """The state of one ASGI websocket exchange, seen from the application.

    Build it from the connection scope; then call `incoming` with every message the
    server delivers and `outgoing` with every message before it is sent. Both validate,
    move the states on, and raise on anything illegal *before* the caller does any I/O.

    Attributes:
      peer: where the client side stands (`PeerState`); ``client_state`` reports it with
        Starlette's names (CONNECTING until ``websocket.connect``, DISCONNECTED once
        ``websocket.disconnect`` has been *consumed*).
      application_state: what the application has sent.
      close_code, close_reason, closed_by: how the connection ended; ``None`` while it has
        not. The first end wins (a client disconnect that follows the app's close does not
        overwrite it).
    """

    __slots__ = (
        "_denial_supported",
        "_subprotocols",
        "application_state",
        "cancel_safe_send",
        "close_code",
        "close_reason",
        "closed_by",
        "owner",
        "peer",
        "shutdown_close_code",
        "shutdown_started",
    )

    def __init__(self, scope: Scope, owner: WebSocket | None = None) -> None:
        if scope.get("type") != "websocket":
            raise ValueError(f"not a websocket scope: type is {scope.get('type')!r}")
        #: The connection whose exchange this is; the errors raised here carry it as
        #: ``.connection`` so that a handler can tell its own disconnect from a peer's.
        self.owner = owner
        self.peer = PeerState.CONNECTING
        self.application_state = CONNECTING
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.closed_by: ClosedBy | None = None
        subprotocols = scope.get("subprotocols") or ()
        self._subprotocols = tuple(str(s) for s in subprotocols)
        extensions = scope.get("extensions") or {}
        self._denial_supported = DENIAL_EXTENSION in extensions
        #: Whether the server declared that its ``send`` is safe to cancel (see
        #: ``CANCEL_SAFE_SEND_EXTENSION``); if not, the trio layer shields every send.
        self.cancel_safe_send = CANCEL_SAFE_SEND_EXTENSION in extensions
        # trio_ws.serve's shutdown extension: a disconnect that arrives once the server has
        # started shutting down is the server's doing, not the client's.
        shutdown = shutdown_extension(scope)
        self.shutdown_close_code: int | None = None if shutdown is None else shutdown["close_code"]
        self.shutdown_started: Callable[[], bool] = (
            _never if shutdown is None else shutdown["event"].is_set
        )

    # ------------------------------------------------------------------ bookkeeping

    @property
    def client_state(self) -> WebSocketState:
        """Where the client side stands, in Starlette's names (see `PeerState`)."""
        return _PEER_AS_CLIENT_STATE[self.peer]

    @client_state.setter
    def client_state(self, state: WebSocketState) -> None:
        # Starlette lets applications set it; the finer peer state follows.
        self.peer = _CLIENT_STATE_AS_PEER[state]

    @property
    def peer_gone(self) -> bool:
        """Whether the server reported the peer gone: sends fail from then on (even if the
        application has not consumed the disconnect yet)."""
        peer = self.peer
        return peer is _PEER_LEFT or peer is _PEER_DISCONNECTED

    @property
    def denial_supported(self) -> bool:
        """Whether the server offers the ``websocket.http.response`` extension."""
        return self._denial_supported

    def record_end(self, code: int, reason: str, closed_by: ClosedBy) -> None:
        """Record how the connection ended, unless an earlier end was recorded already."""
        if self.closed_by is None:
            self.close_code = code
            self.close_reason = reason
            self.closed_by = closed_by

    def peer_disconnected(self, code: int, reason: str, *, by_server: bool = False) -> None:
        """The server reported the peer gone; sends fail from now on.

        Recorded as the client's end; as the server's shutdown when it reported that it had
        started shutting down (``trio_ws.shutdown`` extension); as the server's own
        (`ClosedBy.SERVER`) when ``by_server`` (the disconnect carried ``CLOSED_BY_KEY``).
        The peer state becomes LEFT; it only moves to DISCONNECTED when the disconnect is
        consumed through `incoming` (in structured mode that happens after the buffered
        messages).
        """
        self.peer = _AFTER_PEER_LEFT[self.peer]
        if self.shutdown_started():
            by = ClosedBy.SERVER_SHUTDOWN
        else:
            by = ClosedBy.SERVER if by_server else ClosedBy.CLIENT
        self.record_end(code, reason, by)

    def disconnect_reported(self, message: Message) -> None:
        """The server delivered ``message``, a ``websocket.disconnect``, that the application
        has not consumed yet (structured mode's pump): record the end it reports, read
        leniently (see `disconnect_fields`)."""
        code, reason = self.disconnect_fields(message)
        self.peer_disconnected(code, reason, by_server=message.get(CLOSED_BY_KEY) == "server")

    def cut_off(self, code: int, reason: str) -> None:
        """trio_ws closes on the application's behalf (inbound overflow): recorded as the
        application's end; what was buffered before stays readable, then the end. The caller
        sends the close (`prepare_close`)."""
        self.record_end(code, reason, ClosedBy.APP)
        if self.peer is PeerState.CONNECTED:
            self.peer = PeerState.CUT_OFF

    def connection_lost(self) -> None:
        """The server's ``send`` raised ``OSError`` (ASGI 2.4): the peer is gone, code 1006."""
        self.peer_disconnected(1006, "")
        self.application_state = DISCONNECTED

    def disconnect_error(self) -> WebSocketDisconnect:
        """The exception that reports the recorded end to a caller."""
        return WebSocketDisconnect(
            1006 if self.close_code is None else self.close_code,
            self.close_reason,
            connection=self.owner,
        )

    # ------------------------------------------------------------------ server → app

    @staticmethod
    def is_disconnect(message: Message) -> bool:
        """Whether a message the server delivered reports the end of the connection."""
        return message.get("type") == _DISCONNECT

    @staticmethod
    def disconnect_fields(message: Message) -> tuple[int, str]:
        """The code and reason of a ``websocket.disconnect``, read leniently (1005 and ``""``
        for missing or malformed fields); `incoming` checks them strictly later."""
        code = message.get("code", 1005)
        reason = message.get("reason") or ""
        return (code if type(code) is int else 1005), (reason if isinstance(reason, str) else "")

    def check_receive(self) -> None:
        """Raise if receiving now is misuse (the disconnect was consumed already)."""
        if self.peer is _PEER_DISCONNECTED:
            raise WebSocketDisconnected(
                'Cannot call "receive" once a disconnect message has been received.',
                connection=self.owner,
            )

    def check_receive_data(self) -> None:
        """Raise if a data receive (``receive_text`` and friends) is misuse now."""
        if self.application_state is not CONNECTED and not (
            self.application_state is DISCONNECTED and self.peer is _PEER_CUT_OFF
        ):
            if self.application_state is CONNECTING:
                raise WebSocketDisconnected(
                    'WebSocket is not connected. Need to call "accept" first.',
                    connection=self.owner,
                )
            raise WebSocketDisconnected(
                "WebSocket is closed: the application already sent a close or a response.",
                connection=self.owner,
            )
        self.check_receive()

    def incoming(self, message: Message) -> Message:
        """Validate a message the server delivered and move ``client_state`` on.

        Returns the same message. A ``websocket.disconnect`` is recorded (code and reason) and
        normalised: a missing ``code`` becomes 1005 and ``reason`` is always a ``str``.

        Raises:
          WebSocketDisconnected: the disconnect was already consumed.
          RemoteProtocolError: the message is not legal in this state, or malformed.
        """
        kind = message.get("type")
        if kind == _RECEIVE and self.peer is _PEER_CONNECTED:
            # The per-message case, (CONNECTED, websocket.receive) -> CONNECTED in the table,
            # checked without the general lookup.
            if (message.get("text") is None) == (message.get("bytes") is None):
                raise RemoteProtocolError(
                    "websocket.receive must carry exactly one of 'text' and 'bytes'"
                )
            return message
        self.check_receive()
        allowed = _CLIENT_TRANSITIONS[self.peer]
        new_state = allowed.get(kind)  # type: ignore[arg-type]
        if new_state is None:
            raise RemoteProtocolError(
                f"Expected ASGI message {_one_of(allowed)}, but the server sent {kind!r} "
                f"(client state {self.client_state.name})"
            )
        if kind == _RECEIVE:
            text = message.get("text")
            data = message.get("bytes")
            if (text is None) == (data is None):
                raise RemoteProtocolError(
                    "websocket.receive must carry exactly one of 'text' and 'bytes'"
                )
        elif kind == _DISCONNECT:
            code = message.get("code", 1005)
            reason = message.get("reason") or ""
            if type(code) is not int or not isinstance(reason, str):
                raise RemoteProtocolError(f"malformed websocket.disconnect: {dict(message)!r}")
            message["code"] = code
            message["reason"] = reason
            self.peer_disconnected(code, reason, by_server=message.get(CLOSED_BY_KEY) == "server")
        self.peer = new_state
        return message

    def data_of(self, message: Message) -> str | bytes:
        """The payload of a delivered message; a disconnect becomes ``WebSocketDisconnect``."""
        if message["type"] == _DISCONNECT:
            raise WebSocketDisconnect(message["code"], message["reason"], connection=self.owner)
        text = message.get("text")
        if text is not None:
            return text  # type: ignore[no-any-return]
        return bytes(message["bytes"])

    def text_of(self, message: Message) -> str:
        """The text of a delivered message.

        Raises:
          WebSocketDisconnect: the message is the disconnect.
          UnexpectedMessageType: it is a binary message; the payload is on the exception.
        """
        text = message.get("text")
        if type(text) is str:
            return text
        data = self.data_of(message)
        if type(data) is not str:
            raise UnexpectedMessageType("text", data)
        return data

    def bytes_of(self, message: Message) -> bytes:
        """The bytes of a delivered message.

        Raises:
          WebSocketDisconnect: the message is the disconnect.
          UnexpectedMessageType: it is a text message; the payload is on the exception.
        """
        data = self.data_of(message)
        if type(data) is str:
            raise UnexpectedMessageType("bytes", data)
        return data  # type: ignore[return-value]

    # ------------------------------------------------------------------ app → server

    def outgoing(self, message: Message) -> Message:
        """Validate a message the application wants to send and move ``application_state`` on.

        Returns the message to hand to the server (the same dict; a close gets its ``reason``
        normalised to ``str``). Nothing changes if this raises.

        Raises:
          WebSocketDisconnect: a ``websocket.send`` after the peer has gone.
          WebSocketDisconnected: anything after this side has finished (close or response),
            except a ``websocket.send`` after the peer left first (``WebSocketDisconnect``).
          LocalProtocolError: the message type is not legal in the current state, or the
            denial extension is missing.
          TypeError, ValueError: the message's fields are invalid (see the module docs).
        """
        kind = message.get("type")
        state = self.application_state
        if state is DISCONNECTED:
            if kind == _SEND and self.left_first():
                raise self.disconnect_error()
            raise WebSocketDisconnected(
                'Cannot call "send" once a close message has been sent.', connection=self.owner
            )
        try:
            new_state = application_step(state, kind)
        except LocalProtocolError as exc:
            exc.connection = self.owner
            raise
        if kind == _SEND:
            if self.peer_gone:
                raise self.disconnect_error()
            send_payload(message)
        elif kind == _ACCEPT:
            accept_fields(message, self._subprotocols)
        elif kind == _CLOSE:
            code, message["reason"] = close_fields(message)
            message["code"] = code
            self.record_end(code, message["reason"], ClosedBy.APP)
        elif kind == _RESPONSE_START:
            if not self._denial_supported:
                raise LocalProtocolError(
                    "the server does not support the websocket denial response extension "
                    f"({DENIAL_EXTENSION!r} is not in scope['extensions'])",
                    connection=self.owner,
                )
            response_start_fields(message)
        else:  # _RESPONSE_BODY
            if response_body_fields(message)[1]:  # more_body
                new_state = RESPONSE
            else:
                self.record_end(403, "", ClosedBy.APP)
        self.application_state = new_state
        return message

    @staticmethod
    def close_message(code: int, reason: str) -> Message:
        """A ``websocket.close`` message (built, not checked, nothing changes)."""
        return {"type": _CLOSE, "code": code, "reason": reason}

    @staticmethod
    def accept_message(
        subprotocol: str | None, headers: Iterable[tuple[bytes, bytes]] | None
    ) -> Message:
        """A ``websocket.accept`` message (built, not checked: `outgoing` checks it)."""
        return {
            "type": _ACCEPT,
            "subprotocol": subprotocol,
            "headers": list(headers) if headers is not None else [],
        }

    @staticmethod
    def disconnect_message(code: int, reason: str) -> Message:
        """A ``websocket.disconnect`` as the server would deliver it (for an end that trio_ws
        decided itself, such as the inbound overflow close)."""
        return {"type": _DISCONNECT, "code": code, "reason": reason}

    def prepare_close(self, message: Message) -> Message | None:
        """Move ``application_state`` on for a ``close()`` call and return the close message
        to send, or ``None`` when there is nothing to send: this side already finished, or the
        peer is gone (the server would drop the close frame; this side is then finished).

        The message is a `close_message` whose code and reason were already checked with
        `validate_close` (``close()`` checks them before it waits for anything).

        Raises:
          LocalProtocolError: a denial response is in progress.
        """
        state = self.application_state
        if state is DISCONNECTED:
            return None
        if state is RESPONSE:
            raise LocalProtocolError(_illegal_outgoing(state, _CLOSE), connection=self.owner)
        self.application_state = DISCONNECTED
        if self.peer_gone and state is CONNECTED:
            return None
        self.record_end(message["code"], message["reason"], ClosedBy.APP)
        return message

    def text_message(self, data: str) -> Message:
        """The ``websocket.send`` message for ``data``, checked like `outgoing` does."""
        if type(data) is not str:
            raise TypeError(f"send_text() takes a str, not {type(data).__name__}")
        self.check_can_send_data()
        return {"type": _SEND, "text": data}

    def bytes_message(self, data: bytes | bytearray | memoryview) -> Message:
        """The ``websocket.send`` message for binary ``data``, checked like `outgoing`."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"send_bytes() takes bytes, not {type(data).__name__}")
        self.check_can_send_data()
        return {"type": _SEND, "bytes": data}

    def check_can_send_data(self) -> None:
        """Raise if a data message cannot be sent now (see `text_message`)."""
        state = self.application_state
        if state is not CONNECTED:
            if state is DISCONNECTED:
                if self.left_first():
                    raise self.disconnect_error()
                raise WebSocketDisconnected(
                    'Cannot call "send" once a close message has been sent.',
                    connection=self.owner,
                )
            raise LocalProtocolError(_illegal_outgoing(state, _SEND), connection=self.owner)
        peer = self.peer  # peer_gone, inlined: this runs for every message sent
        if peer is _PEER_LEFT or peer is _PEER_DISCONNECTED:
            raise self.disconnect_error()

    def left_first(self) -> bool:
        """Whether the connection ended by the peer leaving (or the server shutting down)
        before this side closed: a data send then reports that end (``WebSocketDisconnect``)
        rather than a misuse, even after the application's block has finished."""
        return self.peer_gone and self.closed_by in (ClosedBy.CLIENT, ClosedBy.SERVER_SHUTDOWN)


def _one_of(names: Iterable[str]) -> str:
    """``"a"``, ``"a" or "b"``, ``"a", "b" or "c"``: the wording of Starlette's errors."""
    quoted = [f'"{name}"' for name in names]
    if len(quoted) < 2:
        return "".join(quoted)
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _illegal_outgoing(state: WebSocketState, kind: object) -> str:
    if state is DISCONNECTED:
        return (
            f"{kind!r} is not allowed after websocket.close or a complete denial response "
            "(application state DISCONNECTED): nothing more may be sent"
        )
    hint = ""
    if state is CONNECTING and kind == _SEND:
        hint = '; call "accept" first'
    return (
        f"Expected ASGI message {_one_of(_APPLICATION_TRANSITIONS[state])}, but got {kind!r} "
        f"(application state {state.name}{hint})"
    )


Mode = Literal["text", "binary"]


def check_mode(mode: object) -> Mode:
    """Validate the ``mode`` argument of the JSON helpers.

    Raises:
      InvalidModeError: neither ``"text"`` nor ``"binary"`` (a ValueError and a RuntimeError).
    """
    if mode == "text" or mode == "binary":
        return mode
    raise InvalidModeError(f'The "mode" argument must be "text" or "binary", not {mode!r}')

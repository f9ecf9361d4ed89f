"""The emulated server's view of the ASGI websocket exchange: a pure state machine.

No trio and no I/O here. `ServerProtocol` checks every message the application passes
to ``send`` the way a strict server would (stricter than hypercorn 0.18, which checks little
and crashes on some mistakes), moves through the phases, and turns each legal message into a
typed event for the client side. Illegal messages raise `AppProtocolError`, which the
emulator lets propagate into the application's ``send``.

The phases (``websocket.`` prefixes omitted)::

    HANDSHAKE --accept--------------------> OPEN --close--> APP_CLOSED (further close: ignored)
        |---close---------------------------------------------> REJECTED (403)
        '---http.response.start--> DENYING --http.response.body(more_body=False)--> REJECTED
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from .._protocol import (
    validate_accept_headers,
    validate_close,
    validate_headers,
    validate_status,
    validate_subprotocol,
)
from ._exceptions import AppProtocolError

if TYPE_CHECKING:
    from .._types import Message

__all__ = [
    "Accepted",
    "AppClosed",
    "DataSent",
    "Phase",
    "Rejected",
    "ServerProtocol",
    "check_close_code",
    "check_close_reason",
]

KNOWN_TYPES = frozenset(
    {
        "websocket.accept",
        "websocket.send",
        "websocket.close",
        "websocket.http.response.start",
        "websocket.http.response.body",
    }
)
_DENIAL_TYPES = frozenset({"websocket.http.response.start", "websocket.http.response.body"})


class Phase(enum.Enum):
    """Where the exchange is, from the server's point of view."""

    #: ``websocket.connect`` delivered; the app has not answered yet.
    HANDSHAKE = enum.auto()
    #: The app started a denial response and is sending its body.
    DENYING = enum.auto()
    #: Accepted; messages flow both ways.
    OPEN = enum.auto()
    #: The app sent ``websocket.close`` after accepting.
    APP_CLOSED = enum.auto()
    #: The handshake was refused (close before accept, or a complete denial response).
    REJECTED = enum.auto()


@attrs.frozen
class Accepted:
    """The app accepted the handshake."""

    subprotocol: str | None
    headers: list[tuple[bytes, bytes]]


@attrs.frozen
class Rejected:
    """The app refused the handshake with this HTTP response."""

    status_code: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@attrs.frozen
class DataSent:
    """The app sent one message to the client."""

    data: str | bytes


@attrs.frozen
class AppClosed:
    """The app closed the accepted connection."""

    code: int
    reason: str


Event = Accepted | Rejected | DataSent | AppClosed


def check_close_code(code: object) -> int:
    """Return ``code`` if an endpoint may send it in a close frame (RFC 6455 §7.4).

    The rule is trio_ws's own (`trio_ws._protocol.validate_close`).

    Raises:
      ValueError: not an ``int``, or outside 1000-1003, 1007-1014 and 3000-4999.
    """
    try:
        validate_close(code, None)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    assert isinstance(code, int)
    return code


def check_close_reason(reason: object) -> str:
    """Return the reason as a ``str`` (``""`` for ``None``) if it fits in a close frame.

    Raises:
      ValueError: not ``str``/``None``, or longer than 123 bytes once UTF-8 encoded.
    """
    try:
        return validate_close(1000, reason)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def _check_headers(headers: object, *, for_accept: bool) -> list[tuple[bytes, bytes]]:
    """Response or accept headers, checked by trio_ws's own rules; AppProtocolError if bad."""
    try:
        if for_accept:
            return validate_accept_headers(headers)
        return validate_headers(headers, "response")
    except (TypeError, ValueError) as exc:
        raise AppProtocolError(str(exc)) from None


def _bytes_like(value: object, what: str) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise AppProtocolError(f"{what} must be bytes-like, got {type(value).__name__}")


@attrs.define(eq=False)
class ServerProtocol:
    """Checks the app's messages and tracks the phase of one connection.

    Attributes:
      offered_subprotocols: what the client offered; an accept must pick one of them or none.
      denial_extension: whether ``websocket.http.response.*`` messages are allowed.
      phase: the current `Phase`.
    """

    offered_subprotocols: Sequence[str]
    denial_extension: bool
    phase: Phase = Phase.HANDSHAKE
    _denial_status: int = 0
    _denial_headers: list[tuple[bytes, bytes]] = attrs.field(factory=list)
    _denial_body: list[bytes] = attrs.field(factory=list)

    def check_type(self, message: object) -> str:
        """Return the message's ``type`` if the server knows it.

        Raises:
          AppProtocolError: not a mapping, or an unknown ``type``.
        """
        if not isinstance(message, Mapping):
            raise AppProtocolError(f"an ASGI message must be a dict, got {message!r}")
        kind = message.get("type")
        if kind not in KNOWN_TYPES:
            raise AppProtocolError(f"unknown ASGI websocket message type {kind!r}")
        if kind in _DENIAL_TYPES and not self.denial_extension:
            raise AppProtocolError(
                f"{kind!r}: this server does not support the websocket.http.response extension"
            )
        return str(kind)

    def handle(self, message: Message) -> Event | None:
        """Validate ``message`` for the current phase, advance, and return its event.

        Returns ``None`` for messages that change nothing the client can see (the start and
        the non-final body chunks of a denial, a repeated close).

        Raises:
          AppProtocolError: the message is unknown, malformed or illegal in this phase. The
            phase is unchanged.
        """
        kind = self.check_type(message)
        handler = {
            Phase.HANDSHAKE: self._in_handshake,
            Phase.DENYING: self._in_denial,
            Phase.OPEN: self._in_open,
            Phase.APP_CLOSED: self._in_app_closed,
            Phase.REJECTED: self._in_rejected,
        }[self.phase]
        return handler(kind, message)

    def _illegal(self, kind: str, why: str) -> AppProtocolError:
        return AppProtocolError(f"{kind!r} is not allowed {why}")

    def _in_handshake(self, kind: str, message: Message) -> Event | None:
        if kind == "websocket.accept":
            return self._accept(message)
        if kind == "websocket.close":
            self.phase = Phase.REJECTED
            return Rejected(403, [], b"")
        if kind == "websocket.http.response.start":
            try:
                status = validate_status(message.get("status"))
            except (TypeError, ValueError) as error:
                raise AppProtocolError(f"denial status: {error}") from None
            self._denial_headers = _check_headers(message.get("headers"), for_accept=False)
            self._denial_status = status
            self.phase = Phase.DENYING
            return None
        raise self._illegal(kind, "before the handshake is accepted")

    def _accept(self, message: Message) -> Accepted:
        try:
            subprotocol = validate_subprotocol(
                message.get("subprotocol"), self.offered_subprotocols
            )
        except (TypeError, ValueError) as error:
            raise AppProtocolError(f"{error}; hypercorn 0.18 crashes on this") from None
        headers = _check_headers(message.get("headers"), for_accept=True)
        self.phase = Phase.OPEN
        return Accepted(subprotocol, headers)

    def _in_denial(self, kind: str, message: Message) -> Event | None:
        if kind != "websocket.http.response.body":
            raise self._illegal(kind, "during a denial response, only its body")
        self._denial_body.append(_bytes_like(message.get("body", b""), "denial body"))
        more_body = message.get("more_body", False)
        if not isinstance(more_body, bool):
            raise AppProtocolError(f"more_body must be a bool, got {more_body!r}")
        if more_body:
            return None
        self.phase = Phase.REJECTED
        return Rejected(self._denial_status, self._denial_headers, b"".join(self._denial_body))

    def _in_open(self, kind: str, message: Message) -> Event | None:
        if kind == "websocket.send":
            text, data = message.get("text"), message.get("bytes")
            if (text is None) == (data is None):
                raise AppProtocolError(
                    "websocket.send needs exactly one of 'text' and 'bytes' to be non-None"
                )
            if data is not None:
                return DataSent(_bytes_like(data, "'bytes'"))
            if not isinstance(text, str):
                raise AppProtocolError(f"'text' must be a str, got {type(text).__name__}")
            return DataSent(text)
        if kind == "websocket.close":
            try:
                code = check_close_code(message.get("code", 1000))
                reason = check_close_reason(message.get("reason"))
            except ValueError as exc:
                raise AppProtocolError(str(exc)) from None
            self.phase = Phase.APP_CLOSED
            return AppClosed(code, reason)
        raise self._illegal(kind, "once the handshake is accepted")

    def _in_app_closed(self, kind: str, message: Message) -> Event | None:
        if kind == "websocket.close":
            return None  # hypercorn accepts a repeated close silently
        raise self._illegal(kind, "after websocket.close")

    def _in_rejected(self, kind: str, message: Message) -> Event | None:
        raise self._illegal(kind, "after the handshake was rejected")

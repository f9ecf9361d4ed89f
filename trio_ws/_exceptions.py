"""The exceptions trio_ws raises.

The hierarchy::

    WebSocketError                         base of everything below
    ├── WebSocketDisconnect                the peer went away; .code and .reason say how
    ├── WebSocketException                 raise it in a handler to close with .code/.reason
    ├── WebSocketDisconnected (RuntimeError)
    │                                      misuse of a socket that is not open: receive before
    │                                      accept or after the disconnect, send after close
    ├── ProtocolError (RuntimeError)       the ASGI message exchange was broken
    │   ├── LocalProtocolError             ... by the application (a message illegal in this
    │   │                                  state, an invalid close code, an unknown subprotocol)
    │   └── RemoteProtocolError            ... by the server (a message type or shape that the
    │                                      ASGI spec does not allow at this point)
    ├── UnexpectedMessageType (TypeError)  a text message arrived where bytes were expected, or
    │                                      the reverse; .data holds the payload that arrived
    ├── InvalidJSONMessage (ValueError)    a message that should hold JSON does not; .data holds it
    └── InvalidModeError (ValueError, RuntimeError)
                                           the JSON helpers' ``mode`` is not "text" or "binary"

``WebSocketDisconnect`` and ``WebSocketDisconnected`` keep Starlette's names and meanings: the
first is the *peer* leaving (an event a handler expects), the second is the *application*
using a socket that is already finished (a bug). Both misuse classes subclass ``RuntimeError``
so that code written for Starlette's ``except RuntimeError`` keeps working.

Where trio already has a precise exception, trio_ws raises that one instead of a look-alike:
two tasks receiving at once get `trio.BusyResourceError`.

**Every error belongs to a connection.** ``WebSocketDisconnect``, ``WebSocketDisconnected`` and
the ``LocalProtocolError`` a connection raises carry that connection on ``.connection`` (the
`trio_ws.WebSocket` whose method raised it; ``None`` when you raise one yourself). A
structured block ends normally only on a disconnect of *its own* connection (or one with
``connection=None``): a handler that sends to a peer which has just left gets the peer's
disconnect, and letting it escape is an error of that handler (close 1011, re-raised).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ._websocket import WebSocket

__all__ = [
    "InvalidJSONMessage",
    "InvalidModeError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "UnexpectedMessageType",
    "WebSocketDisconnect",
    "WebSocketDisconnected",
    "WebSocketError",
    "WebSocketException",
]


class WebSocketError(Exception):
    """Base class of every exception trio_ws defines.

    Attributes:
      connection: the `trio_ws.WebSocket` this error belongs to, or ``None`` when it
        was raised by application code rather than by a connection.
    """

    connection: WebSocket | None = None


class WebSocketDisconnect(WebSocketError):
    """The peer disconnected, or the connection was lost.

    Attributes:
      code: the WebSocket close code reported by the server (1006 when the connection dropped
        without a close frame, and always 1006 for a client close under hypercorn 0.18).
      reason: the close reason, ``""`` when there was none.
      connection: the WebSocket whose peer left (``None`` if you raised it yourself). In a
        handler that talks to several connections, compare it with your own: ``exc.connection
        is ws`` means your client left; anything else is a peer that left.
    """

    def __init__(
        self, code: int = 1000, reason: str | None = None, *, connection: WebSocket | None = None
    ) -> None:
        self.code = code
        self.reason = reason or ""
        self.connection = connection
        super().__init__(code, self.reason)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


class WebSocketException(WebSocketError):
    """Raise inside a handler to close the WebSocket with ``code`` and ``reason``.

    `trio_ws.websocket_app` catches it and closes the connection (or, before accept,
    denies it with HTTP 403) instead of reporting an error.
    """

    def __init__(self, code: int, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


class WebSocketDisconnected(WebSocketError, RuntimeError):
    """The WebSocket is not open for this operation.

    Raised for receiving before ``accept()`` or after the disconnect has been consumed, and for
    sending after a close message has been sent. ``.connection`` is the WebSocket misused.
    """

    def __init__(self, message: str = "", *, connection: WebSocket | None = None) -> None:
        self.connection = connection
        super().__init__(message)


class ProtocolError(WebSocketError, RuntimeError):
    """The ASGI websocket message exchange was broken. See the two subclasses for who broke it."""


class LocalProtocolError(ProtocolError):
    """The application tried something the ASGI websocket protocol does not allow.

    For example: sending before accepting, accepting twice, a close code outside the ranges a
    server may send, a reason longer than 123 UTF-8 bytes, or a subprotocol the client did not
    offer. Nothing was sent to the server when this is raised. ``.connection`` is the
    WebSocket misused, when the error comes from the connection's state.
    """

    def __init__(self, message: str = "", *, connection: WebSocket | None = None) -> None:
        self.connection = connection
        super().__init__(message)


class RemoteProtocolError(ProtocolError):
    """The ASGI server sent a message that is not legal at this point of the exchange."""


class UnexpectedMessageType(WebSocketError, TypeError):
    """A message of the other kind arrived: text where bytes were expected, or the reverse.

    The message has been consumed from the connection; its payload is carried here so that
    nothing is lost.

    Attributes:
      expected: ``"text"`` or ``"bytes"``, what the caller asked for.
      data: the payload that arrived (``bytes`` when text was expected, ``str`` otherwise).
    """

    def __init__(self, expected: Literal["text", "bytes"], data: str | bytes) -> None:
        self.expected: Literal["text", "bytes"] = expected
        self.data = data
        got = "bytes" if isinstance(data, bytes) else "text"
        super().__init__(
            f"expected a {expected} message but received a {got} message "
            f"({len(data)} {'bytes' if got == 'bytes' else 'characters'}); "
            "the payload is in the exception's .data"
        )


class InvalidJSONMessage(WebSocketError, ValueError):
    """A message that should contain JSON could not be decoded.

    The message has been consumed; the connection stays usable.

    Attributes:
      data: the raw payload that arrived.
    """

    def __init__(self, data: str | bytes, detail: str) -> None:
        self.data = data
        super().__init__(f"message is not valid JSON: {detail}")


class InvalidModeError(WebSocketError, ValueError, RuntimeError):
    """The ``mode`` argument of ``send_json``/``receive_json``/``iter_json`` is neither
    ``"text"`` nor ``"binary"``.

    A ``ValueError`` (a bad argument) and, for code written for Starlette (which raises
    ``RuntimeError`` here), a ``RuntimeError`` too. Nothing was sent or received.
    """

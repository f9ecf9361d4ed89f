"""What opening a client websocket raises: one class per way it can fail, each one line long.

The hierarchy::

    trio_ws.WebSocketError
    └── ConnectError (also an OSError)   the websocket could not be opened
        ├── DNSError                     the host name did not resolve
        ├── TCPConnectError              no TCP connection (refused, unreachable, reset)
        ├── TLSError                     the TLS handshake failed (certificate, protocol)
        ├── OpenTimeout (TimeoutError)   ``open_timeout`` passed before the websocket was open
        ├── HandshakeFailed              the server answered, but not with a valid upgrade
        └── HandshakeRejected            the server answered with an HTTP status, not 101:
                                         .status_code, .headers, .body

Every one of them is an ``OSError``, so ``except OSError`` keeps catching network failures as
it does for plain sockets, and each names the URL and what failed in its message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._exceptions import WebSocketError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "ConnectError",
    "DNSError",
    "HandshakeFailed",
    "HandshakeRejected",
    "OpenTimeout",
    "TCPConnectError",
    "TLSError",
]


class ConnectError(WebSocketError, OSError):
    """The websocket could not be opened; the subclass says which step failed.

    Attributes:
      url: the URL given to `trio_ws.connect`.
    """

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        super().__init__(f"{message} ({url})")

    def __str__(self) -> str:
        return str(self.args[0])


class DNSError(ConnectError):
    """The host name of the URL did not resolve."""


class TCPConnectError(ConnectError):
    """No TCP connection could be made to the host (refused, unreachable, reset)."""


class TLSError(ConnectError):
    """The TLS handshake of a ``wss://`` URL failed (certificate not trusted, wrong host
    name, no common protocol)."""


class OpenTimeout(ConnectError, TimeoutError):
    """``open_timeout`` passed before the websocket was open (resolving, connecting, the TLS
    or the WebSocket handshake)."""


class HandshakeFailed(ConnectError):
    """The server answered the upgrade request, but not with a valid websocket upgrade (a
    malformed response, a wrong ``Sec-WebSocket-Accept``, an extension or subprotocol the
    client did not offer), or closed the connection before answering."""


class HandshakeRejected(ConnectError):
    """The server answered the upgrade request with an HTTP status other than 101.

    Attributes:
      status_code: the HTTP status (403 for a server that closed before accepting, 404 for
        no such route, the status of a denial response...).
      headers: the response headers as ``(bytes, bytes)`` pairs, names in lower case (the
        shape of ASGI headers; ``trio_ws.Headers(raw=exc.headers)`` gives a mapping).
      body: the whole response body.
    """

    def __init__(
        self,
        url: str,
        status_code: int,
        headers: Sequence[tuple[bytes, bytes]] = (),
        body: bytes = b"",
    ) -> None:
        self.status_code = status_code
        self.headers: list[tuple[bytes, bytes]] = list(headers)
        self.body = body
        super().__init__(
            url, f"the server rejected the WebSocket handshake with HTTP {status_code}"
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, "
            f"headers={self.headers!r}, body={self.body!r})"
        )

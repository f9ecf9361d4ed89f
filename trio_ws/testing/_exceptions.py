"""What the in-memory test client raises.

The hierarchy::

    trio_ws.WebSocketError
    ├── trio_ws.HandshakeRejected
    │   └── ConnectionRejected             the app denied the handshake: .status_code, .headers,
    │                                      .body (403 for a close before accept, 500 when the app
    │                                      returned or raised before answering)
    ├── trio_ws.WebSocketDisconnect
    │   └── ConnectionClosed               the connection is closed, by either side: .code, .reason
    └── trio_ws.LocalProtocolError
        └── AppProtocolError               the app sent a message the emulated server refuses;
                                           raised *into the app's* ``send``, as a server would

The in-memory client and `trio_ws.connect` raise the same classes (issue 17, requirement 8):
client code that catches ``trio_ws.WebSocketDisconnect`` or ``trio_ws.HandshakeRejected``
works against both. ``ConnectionClosed`` and ``ConnectionRejected`` stay as the narrower names
a test can catch when it means the *client's* view only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._exceptions import LocalProtocolError, WebSocketDisconnect
from ..client import HandshakeRejected

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["AppProtocolError", "ConnectionClosed", "ConnectionRejected"]


class ConnectionRejected(HandshakeRejected):
    """The application did not accept the WebSocket handshake.

    Attributes:
      status_code: the HTTP status the client got: 403 when the app sent ``websocket.close``
        before accepting, 500 when it returned or raised before answering, or the status of its
        denial response (the ``websocket.http.response`` extension).
      headers: the response headers the app gave, as ``(bytes, bytes)`` pairs. Headers a real
        server adds (``date``, ``server``, ``content-length``) are not emulated.
      body: the full response body (``b""`` for 403 and 500).
    """

    def __init__(
        self, status_code: int, headers: Sequence[tuple[bytes, bytes]] = (), body: bytes = b""
    ) -> None:
        super().__init__("testclient", status_code, headers, body)
        self.args = (f"the app rejected the WebSocket handshake with HTTP {status_code}",)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, "
            f"headers={self.headers!r}, body={self.body!r})"
        )


class ConnectionClosed(WebSocketDisconnect):
    """The connection is closed; the client can neither send nor receive any more.

    Attributes:
      code: the close code: the app's code when it closed, 1011 when it returned or raised
        without closing, the client's own code after `WebSocketTestClient.close`, and
        1006 after `WebSocketTestClient.drop`.
      reason: the close reason, ``""`` when there was none.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(code, reason)

    def __str__(self) -> str:
        return f"the WebSocket is closed (code={self.code}, reason={self.reason!r})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


class AppProtocolError(LocalProtocolError):
    """The application sent an ASGI message that the emulated server refuses.

    It is raised from the ``send`` callable the application was given, the way a real server
    raises into the app: a message illegal in the current state (a send before accept, a
    second accept), an unknown message type, a malformed message, or an accept naming a
    subprotocol the client did not offer (which crashes hypercorn 0.18 outright).
    """

"""trio_ws's client: `connect` and `keep_connected`, on websockets' sans-I/O ``ClientProtocol``.

One concept per module:

* `._open`: resolve, connect, TLS and the HTTP upgrade, each failure typed (`._errors`);
* `._assembler`: data frames to whole messages (sans-I/O);
* `._connection`: the ASGI-shaped ``receive``/``send`` over the protocol, and the keepalive;
* `._websocket`: the object users hold, a face over `trio_ws.WebSocket`;
* `._connect`: ``connect()``, the async context manager that puts them together;
* `._backoff` and `._keep_connected`: ``keep_connected()``, reconnecting with backoff.
"""

from __future__ import annotations

from ._connect import ClientOptions, Connect, connect
from ._errors import (
    ConnectError,
    DNSError,
    HandshakeFailed,
    HandshakeRejected,
    OpenTimeout,
    TCPConnectError,
    TLSError,
)
from ._keep_connected import keep_connected
from ._websocket import ClientClosedBy, ClientWebSocket

__all__ = [
    "ClientClosedBy",
    "ClientOptions",
    "ClientWebSocket",
    "ConnectError",
    "Connect",
    "DNSError",
    "HandshakeFailed",
    "HandshakeRejected",
    "OpenTimeout",
    "TCPConnectError",
    "TLSError",
    "connect",
    "keep_connected",
]

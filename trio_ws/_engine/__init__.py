"""trio_ws's websocket engine: the connection path `trio_ws.serve` uses for websockets.

hypercorn keeps everything HTTP (other requests, lifespan, TLS set-up, HTTP/2, config); once an
HTTP/1.1 request asks for a websocket (the first of a connection, or a later one hypercorn hands
back), the connection is driven here, by ``websockets``'
sans-I/O ``ServerProtocol``, in the connection's own task. One concept per module:

* `._replay`: a stream that replays the bytes already read, for handing a connection
  to hypercorn;
* `._upgrade`: reading the first request head and deciding who serves the connection, and
  parsing the head of a websocket request hypercorn handed back;
* `._scope`: the ASGI scope of an upgrade request;
* `._connection`: the ASGI ``receive``/``send`` of one websocket over the protocol;
* `._keepalive`: the one timer that pings, times out pongs and idle reads server-wide.
"""

from __future__ import annotations

from ._connection import EngineConnection, EngineSettings
from ._keepalive import KeepaliveTimer
from ._replay import ReplayStream
from ._upgrade import Upgrade, parse_upgrade, read_upgrade

__all__ = [
    "EngineConnection",
    "EngineSettings",
    "KeepaliveTimer",
    "ReplayStream",
    "Upgrade",
    "parse_upgrade",
    "read_upgrade",
]

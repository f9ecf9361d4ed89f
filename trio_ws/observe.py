"""Watching a running server: the observer interface, the access log, and what they receive.

`trio_ws.serve` (``observer=...``) reports each websocket's handshake, acceptance, end and
keepalive round trips to a `ServerObserver`. `AccessLog` writes one line per websocket and
per refused handshake; `trio_ws.metrics.PrometheusMetrics` (the ``metrics`` extra) counts
them; `ObserverGroup` combines several. See ``docs/operations.md``.
"""

from __future__ import annotations

from ._access_log import AccessLog
from ._observe import (
    ClosedBy,
    ConnectionEnd,
    HandshakeRefused,
    ObservedConnection,
    ObserverGroup,
    ServerObserver,
)

__all__ = [
    "AccessLog",
    "ClosedBy",
    "ConnectionEnd",
    "HandshakeRefused",
    "ObservedConnection",
    "ObserverGroup",
    "ServerObserver",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj

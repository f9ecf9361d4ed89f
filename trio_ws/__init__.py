"""trio_ws: Trio-native, structured-concurrency WebSockets with Starlette's API.

Only the names listed in ``__all__`` are public. Everything lives in private modules and is
re-exported here; the ``__module__`` of each export is rewritten so that tracebacks and docs
show ``trio_ws.WebSocket`` rather than ``trio_ws._websocket.WebSocket``.
"""

from __future__ import annotations

from ._exceptions import (
    InvalidJSONMessage as InvalidJSONMessage,
    LocalProtocolError as LocalProtocolError,
    ProtocolError as ProtocolError,
    RemoteProtocolError as RemoteProtocolError,
    UnexpectedMessageType as UnexpectedMessageType,
    WebSocketDisconnect as WebSocketDisconnect,
    WebSocketDisconnected as WebSocketDisconnected,
    WebSocketError as WebSocketError,
    WebSocketException as WebSocketException,
)
from ._version import __version__ as __version__

__all__ = [
    # exceptions
    "InvalidJSONMessage",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "UnexpectedMessageType",
    "WebSocketDisconnect",
    "WebSocketDisconnected",
    "WebSocketError",
    "WebSocketException",
]


def _fix_module_names() -> None:
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith("trio_ws._"):
            obj.__module__ = __name__


_fix_module_names()

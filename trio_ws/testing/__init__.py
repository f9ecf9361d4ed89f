"""Test helpers for trio_ws applications (and any ASGI websocket application).

:func:`connect` runs an ASGI app in memory and yields a :class:`WebSocketTestClient` wired to
it by trio memory channels: no threads, no sockets, deterministic under ``autojump_clock``.
The emulated server follows hypercorn 0.18's behaviour where it matters (message shapes,
close codes, a 10-slot receive queue) and can speak ASGI spec 2.3, 2.4 or 2.5.
"""

from __future__ import annotations

from ._client import WebSocketTestClient as WebSocketTestClient
from ._connect import connect as connect
from ._exceptions import AppProtocolError as AppProtocolError
from ._exceptions import ConnectionClosed as ConnectionClosed
from ._exceptions import ConnectionRejected as ConnectionRejected
from ._scope import SpecVersion as SpecVersion

__all__ = [
    # in-memory client
    "connect",
    "WebSocketTestClient",
    "SpecVersion",
    # exceptions
    "ConnectionClosed",
    "ConnectionRejected",
    "AppProtocolError",
]


def _fix_module_names() -> None:
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith(f"{__name__}._"):
            try:
                obj.__module__ = __name__
            except (AttributeError, TypeError):  # type aliases
                pass


_fix_module_names()

"""The ``trio_ws.shutdown`` scope extension: how an application learns the server is stopping.

`trio_ws.serve` puts it in every websocket scope. This module does not import hypercorn,
so the WebSocket class (or any application) can read the extension without depending on the
server that set it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, TypedDict

if TYPE_CHECKING:
    import trio

    from ._types import Scope

__all__ = [
    "KEEPALIVE_EXTENSION",
    "SHUTDOWN_EXTENSION",
    "ShutdownExtension",
    "keepalive_latency",
    "shutdown_extension",
]

#: The key in ``scope["extensions"]``.
SHUTDOWN_EXTENSION: Final = "trio_ws.shutdown"
#: The key of the keepalive extension: a dict whose ``"latency"`` is the round trip of the
#: last answered ping in seconds (``None`` before the first pong). Set by trio_ws's engine.
KEEPALIVE_EXTENSION: Final = "trio_ws.keepalive"


class ShutdownExtension(TypedDict):
    """``scope["extensions"]["trio_ws.shutdown"]``, as set by `trio_ws.serve`."""

    #: The close code the server sends to open websockets when it stops: 1001 or 1012.
    close_code: int
    #: Set when graceful shutdown starts, just before the server sends those close frames.
    event: trio.Event
    #: Seconds from that moment until remaining connections are cancelled and aborted.
    grace_period: float


def shutdown_extension(scope: Scope) -> ShutdownExtension | None:
    """The scope's ``trio_ws.shutdown`` extension, or ``None`` when the server did not set one."""
    extensions = scope.get("extensions") or {}
    value = extensions.get(SHUTDOWN_EXTENSION)
    if not isinstance(value, dict):
        return None
    return value  # type: ignore[return-value]  # set by trio_ws.serve with exactly these keys


def keepalive_latency(scope: Scope) -> float | None:
    """The last measured ping round trip of this websocket in seconds, if the server measures it.

    ``None`` before the first pong, or when the server is not trio_ws's engine.
    """
    extensions = scope.get("extensions") or {}
    value = extensions.get(KEEPALIVE_EXTENSION)
    if not isinstance(value, dict):
        return None
    latency = value.get("latency")
    return latency if isinstance(latency, float) else None

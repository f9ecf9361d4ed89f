"""Forwarding one subscriber's messages to one websocket, through its public API only."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, TypeAlias

from .._exceptions import WebSocketDisconnect, WebSocketDisconnected
from ._exceptions import BroadcastGap, SubscriberOverflow
from ._fanout import direct_delivery

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._websocket import WebSocket
    from ._event import BroadcastEvent
    from ._subscriber import Subscriber

__all__ = ["GapRenderer", "Renderer", "forward_to_websocket"]

#: What `Broadcast.forward` sends for an event: a text (``str``) or binary (``bytes``) message.
Renderer: TypeAlias = "Callable[[BroadcastEvent], str | bytes]"
#: What `Broadcast.forward` sends for a gap, or ``None`` for nothing.
GapRenderer: TypeAlias = "Callable[[BroadcastGap], str | bytes | None]"


def _has_ended(websocket: WebSocket) -> bool:
    """Whether ``websocket`` itself is over (its close code is set once either side ended)."""
    return websocket.close_code is not None


def _until_disconnect(websocket: WebSocket) -> contextlib.AbstractContextManager[object]:
    try:
        return websocket.cancel_on_disconnect()
    except RuntimeError:  # direct mode: only a failing send tells us the client left
        return contextlib.nullcontext()


def _checked(message: object, what: str) -> str | bytes:
    if not isinstance(message, (str, bytes)):
        raise TypeError(f"{what} must return str or bytes, got {type(message).__name__}")
    return message


async def forward_to_websocket(
    subscriber: Subscriber,
    websocket: WebSocket,
    *,
    render: Renderer | None = None,
    on_gap: GapRenderer | None = None,
) -> None:
    """Send ``subscriber``'s messages to ``websocket`` until the socket ends.

    Raises:
      WebSocketDisconnect, WebSocketDisconnected: only if ``websocket`` is still open
        afterwards (so they cannot be its own end); anything else the socket raises.
      TypeError: ``render`` or ``on_gap`` returned neither ``str`` nor ``bytes``.
    """
    with _until_disconnect(websocket), direct_delivery(subscriber, websocket, render):
        while True:
            message: str | bytes
            try:
                event = await anext(subscriber)
            except StopAsyncIteration:
                return
            except BroadcastGap as gap:
                notice = None if on_gap is None else on_gap(gap)
                if notice is None:
                    continue
                message = _checked(notice, "on_gap")
            except SubscriberOverflow as overflow:
                with contextlib.suppress(WebSocketDisconnect, WebSocketDisconnected):
                    await websocket.close(
                        websocket.options.overflow_close_code,
                        f"broadcast overflow: {overflow.missed} message(s) missed",
                    )
                return
            else:
                message = event.message if render is None else _checked(render(event), "render")
            try:
                if isinstance(message, str):
                    await websocket.send_text(message)
                else:
                    await websocket.send_bytes(message)
            except (WebSocketDisconnect, WebSocketDisconnected):
                if _has_ended(websocket):
                    return
                raise

"""Forwarding one subscriber's messages to one websocket, through its public API only."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from .._exceptions import WebSocketDisconnect, WebSocketDisconnected
from ._exceptions import BroadcastGap, SubscriberOverflow
from ._fanout import direct_delivery

if TYPE_CHECKING:
    from .._websocket import WebSocket
    from ._subscriber import Subscriber

__all__ = ["forward_to_websocket"]


def _has_ended(websocket: WebSocket) -> bool:
    """Whether ``websocket`` itself is over (its close code is set once either side ended)."""
    return websocket.close_code is not None


def _until_disconnect(websocket: WebSocket) -> contextlib.AbstractContextManager[object]:
    try:
        return websocket.cancel_on_disconnect()
    except RuntimeError:  # direct mode: only a failing send tells us the client left
        return contextlib.nullcontext()


async def forward_to_websocket(subscriber: Subscriber, websocket: WebSocket) -> None:
    """Send ``subscriber``'s messages to ``websocket`` until the socket ends.

    Raises:
      WebSocketDisconnect, WebSocketDisconnected: only if ``websocket`` is still open
        afterwards (so they cannot be its own end); anything else the socket raises.
    """
    with _until_disconnect(websocket), direct_delivery(subscriber, websocket):
        while True:
            try:
                event = await anext(subscriber)
            except StopAsyncIteration:
                return
            except BroadcastGap:
                continue
            except SubscriberOverflow as overflow:
                with contextlib.suppress(WebSocketDisconnect, WebSocketDisconnected):
                    await websocket.close(
                        websocket.options.overflow_close_code,
                        f"broadcast overflow: {overflow.missed} message(s) missed",
                    )
                return
            message = event.message
            try:
                if isinstance(message, str):
                    await websocket.send_text(message)
                else:
                    await websocket.send_bytes(message)
            except (WebSocketDisconnect, WebSocketDisconnected):
                if _has_ended(websocket):
                    return
                raise

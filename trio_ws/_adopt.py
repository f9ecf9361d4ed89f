"""``adopt()``: turn a Starlette or FastAPI ``WebSocket`` into a trio_ws ``WebSocket``.

Starlette is optional, so nothing here imports it: the object is recognised by the members
every Starlette ``WebSocket`` has (FastAPI's is the same class). The members relied on are
pinned by ``tests/integration/test_adopt.py``:

* ``scope``: the ASGI scope (public);
* ``_receive`` and ``_send``: the ASGI callables the object was made with;
* ``client_state`` and ``application_state``: ``enum`` members whose values are those of
  `trio_ws.WebSocketState` (CONNECTING 0, CONNECTED 1, DISCONNECTED 2, RESPONSE 3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._protocol import WebSocketState
from ._websocket import WebSocket

if TYPE_CHECKING:
    from ._options import ConnectionOptions

__all__ = ["adopt"]

_REQUIRED = ("scope", "_receive", "_send", "client_state", "application_state")


def _state(value: Any, which: str) -> WebSocketState:
    try:
        return WebSocketState(getattr(value, "value", value))
    except ValueError:
        raise TypeError(f"adopt(): {which} {value!r} is not a WebSocket state") from None


def adopt(websocket: Any, *, options: ConnectionOptions | None = None) -> WebSocket:
    """A trio_ws `WebSocket` over the same connection as a Starlette/FastAPI one.

    The new object uses the same scope and ASGI ``receive``/``send`` and starts in the same
    states: accepted or not, its ``websocket.connect`` already consumed or not. From then on
    use only the returned object (the Starlette one would read the same messages), with all
    of trio_ws's semantics, structured mode included:

        @app.websocket("/rooms/{room}")
        async def room(websocket: fastapi.WebSocket, user=Depends(current_user)):
            async with trio_ws.adopt(websocket) as ws:
                await ws.accept()
                ...

    A trio_ws ``WebSocket`` is returned as it is.

    Args:
      websocket: a ``starlette.websockets.WebSocket`` (or FastAPI's, the same class).
      options: the `ConnectionOptions` of the new connection.

    Raises:
      TypeError: ``websocket`` is not a Starlette WebSocket (it lacks ``scope``,
        ``_receive``, ``_send``, ``client_state`` or ``application_state``).
      ValueError: its scope is not a websocket scope.
      RuntimeError: called under asyncio (trio_ws runs on Trio).
    """
    if isinstance(websocket, WebSocket):
        return websocket
    missing = [name for name in _REQUIRED if not hasattr(websocket, name)]
    if missing:
        raise TypeError(
            f"adopt() takes a Starlette or FastAPI WebSocket, not {type(websocket).__name__} "
            f"(it has no {', '.join(missing)})"
        )
    adopted = WebSocket(websocket.scope, websocket._receive, websocket._send, options=options)
    adopted.client_state = _state(websocket.client_state, "client_state")
    adopted.application_state = _state(websocket.application_state, "application_state")
    return adopted

"""Chat rooms with trio_ws.Broadcast: one room per path, in one process or across many.

Every text a client sends is published to its room; every member gets it through
``broadcast.forward``, which gives each socket a bounded buffer of its own (a client that
stops reading loses old messages, it never slows the room down). The Broadcast lives as long
as the server, opened in the ASGI lifespan. On connect, a client first gets
``{"room": ..., "worker": <pid>}``.

    # one process, rooms in memory
    python -m trio_ws examples.broadcast_chat:app

    # four processes on one port, rooms shared through Redis
    export TRIO_WS_BROADCAST_URL=redis://127.0.0.1:6379
    python -m trio_ws examples.broadcast_chat:app --workers 4
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from trio_ws import Broadcast, BroadcastUnavailable, WebSocket, websocket_app

if TYPE_CHECKING:
    from trio_ws._types import Receive, Scope, Send

BROADCAST_URL = os.environ.get("TRIO_WS_BROADCAST_URL", "memory://")

#: The server's Broadcast, open between lifespan startup and shutdown.
broadcast: Broadcast | None = None


async def lifespan(receive: Receive, send: Send) -> None:
    """Open the Broadcast at startup (or fail the startup clearly); close it at shutdown."""
    global broadcast
    await receive()  # lifespan.startup
    try:
        async with Broadcast(BROADCAST_URL) as opened:
            broadcast = opened
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            broadcast = None
    except BroadcastUnavailable as error:
        await send({"type": "lifespan.startup.failed", "message": str(error)})
        return
    await send({"type": "lifespan.shutdown.complete"})


async def chat(ws: WebSocket) -> None:
    """Join the room named by the path; publish what the client says; forward the room."""
    assert broadcast is not None, "the server did not run the lifespan startup"
    room = ws.url.path
    await ws.accept()
    await ws.send_json({"room": room, "worker": os.getpid()})
    ws.start_soon(broadcast.forward, room, ws)
    async for text in ws.iter_text():
        await broadcast.publish(room, text)


websocket_chat = websocket_app(chat)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI application: the lifespan here, websockets to the chat."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    else:
        await websocket_chat(scope, receive, send)

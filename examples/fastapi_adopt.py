"""A FastAPI endpoint that keeps FastAPI's routing and dependencies and gets trio_ws's semantics.

``trio_ws.adopt(websocket)`` turns FastAPI's (Starlette's) WebSocket into a trio_ws one, in the
same state. Inside ``async with``, the client leaving ends the block quietly (plain FastAPI
would let Starlette's ``WebSocketDisconnect`` escape to the server), and a long wait is cut
short by ``cancel_on_disconnect``.

    python3 -m hypercorn --worker-class trio examples.fastapi_adopt:app
"""

from __future__ import annotations

import fastapi
import trio

import trio_ws

INTERVAL = 1.0

app = fastapi.FastAPI()


async def current_user(token: str = "anonymous") -> str:
    """A stand-in for real authentication: the ``token`` query parameter.

    An ``async def`` dependency runs in the event loop; a plain ``def`` one would run in a worker
    thread, which a test on trio's autojump clock cannot wait for reliably.
    """
    return token


@app.websocket("/ticks/{room}")
async def ticks(
    websocket: fastapi.WebSocket, room: str, user: str = fastapi.Depends(current_user)
) -> None:
    """Send ``{"room", "user", "tick"}`` every INTERVAL seconds until the client leaves."""
    async with trio_ws.adopt(websocket) as ws:
        await ws.accept()
        tick = 0
        while True:
            await ws.send_json({"room": room, "user": user, "tick": tick})
            tick += 1
            with ws.cancel_on_disconnect():
                await trio.sleep(INTERVAL)

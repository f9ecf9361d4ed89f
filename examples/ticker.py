"""A server-push ticker that stops as soon as the client leaves.

The handler never receives: structured mode's receive pump notices the disconnect, and the
next ``send_json`` raises ``WebSocketDisconnect``, which the block treats as a normal end.
``cancel_on_disconnect`` also cuts a long wait short (here, the pause between ticks).

    python3 -m hypercorn --worker-class trio examples.ticker:app
"""

from __future__ import annotations

import trio

from trio_ws import WebSocket, websocket_app

INTERVAL = 1.0


async def ticker(ws: WebSocket) -> None:
    """Send ``{"tick": n}`` every INTERVAL seconds until the client goes away."""
    await ws.accept()
    count = 0
    while True:
        await ws.send_json({"tick": count})
        count += 1
        with ws.cancel_on_disconnect():
            await trio.sleep(INTERVAL)


app = websocket_app(ticker, inbound_buffer=4, overflow="drop_oldest")

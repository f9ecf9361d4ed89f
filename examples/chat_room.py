"""A chat room: every message a member sends goes to all the other members.

Sending to *another* connection can fail because that member has just left: its
``WebSocketDisconnect`` is raised in the sender's task. The loop below catches it per peer and
drops the peer; letting it escape would be an error of the sender's handler (close 1011, as for
any other exception). For rooms with many members, ``trio_ws.Broadcast`` does this for you.

    python3 -m hypercorn --worker-class trio examples.chat_room:app
"""

from __future__ import annotations

from trio_ws import WebSocket, WebSocketDisconnect, websocket_app

members: set[WebSocket] = set()


async def send_to_others(sender: WebSocket, text: str) -> None:
    """Send ``text`` to every member but ``sender``; forget members that have left."""
    for peer in list(members):
        if peer is sender:
            continue
        try:
            await peer.send_text(text)
        except WebSocketDisconnect:
            members.discard(peer)  # the peer left; our own connection is fine


async def chat(ws: WebSocket) -> None:
    """Join the room, relay each message to the others, leave when the client goes."""
    await ws.accept()
    members.add(ws)
    try:
        async for text in ws.iter_text():
            await send_to_others(ws, text)
    finally:
        members.discard(ws)


app = websocket_app(chat)

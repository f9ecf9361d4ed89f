"""The chat application: one Starlette app, three static files and one websocket route.

The protocol on ``/ws?name=NAME&room=ROOM`` (both 1-32 characters):

* the client sends each chat message as a text frame (at most 1,000 characters);
* the server sends JSON events: ``{"type": "join" | "here" | "leave", "id", "name"}`` for
  presence and ``{"type": "message", "id", "name", "text"}`` for messages, and first
  ``{"type": "welcome", "id", "name", "room"}`` so the page knows which id is its own.

Presence works across processes (a Redis broadcast): a newcomer publishes ``join``, every
connection in the room that sees it answers ``here``, and a connection that ends publishes
``leave``.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import trio
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

import trio_ws

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from starlette.requests import Request

    from trio_ws.broadcast import Subscriber

__all__ = ["LOOPBACK_ORIGIN", "create_app"]

STATIC = Path(__file__).parent / "static"
#: Pages served from this machine, on any port: the demo's own page, wherever it is bound.
LOOPBACK_ORIGIN = re.compile(r"https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?")
NAME = re.compile(r"[^\x00-\x1f\x7f]{1,32}")
ROOM = re.compile(r"[\w.-]{1,32}")
MAX_TEXT = 1000

# Close codes the page explains (the guards add 1008 for a rate limit, 1009 for size, 1001 idle).
BAD_REQUEST = 4400


def _event(kind: str, member_id: str, name: str, **fields: str) -> dict[str, str]:
    return {"type": kind, "id": member_id, "name": name, **fields}


def chat_handler(broadcast: trio_ws.Broadcast) -> Callable[[trio_ws.WebSocket], Awaitable[None]]:
    """The websocket handler of one chat connection, talking through ``broadcast``."""

    async def chat(ws: trio_ws.WebSocket) -> None:
        name = ws.query_params.get("name", "").strip()
        room = ws.query_params.get("room", "").strip()
        await ws.accept()
        if not NAME.fullmatch(name) or not ROOM.fullmatch(room):
            raise trio_ws.WebSocketException(
                BAD_REQUEST, "a name (1-32 characters) and a room (letters, digits, . - _) please"
            )
        me = secrets.token_hex(4)
        channel = f"chat.{room}"
        await ws.send_json(_event("welcome", me, name, room=room))
        async with broadcast.subscribe(channel, buffer=64) as subscriber:
            ws.start_soon(_relay, ws, broadcast, subscriber, channel, me, name)
            await broadcast.publish_json(channel, _event("join", me, name))
            try:
                async for text in ws.iter_text():
                    text = text.strip()
                    if len(text) > MAX_TEXT:
                        raise trio_ws.WebSocketException(1009, f"at most {MAX_TEXT} characters")
                    if text:
                        message = _event("message", me, name, text=text)
                        await broadcast.publish_json(channel, message)
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(2):
                    await broadcast.publish_json(channel, _event("leave", me, name))

    return chat


async def _relay(
    ws: trio_ws.WebSocket,
    broadcast: trio_ws.Broadcast,
    subscriber: Subscriber,
    channel: str,
    me: str,
    name: str,
) -> None:
    """Send the room's events to this socket; answer other members' ``join`` with ``here``.

    Returns when the client has gone (its disconnect is the handler's to report, not ours).
    """
    try:
        async for event in subscriber:
            await ws.send_text(str(event.message))
            data = event.json()
            if data.get("type") == "join" and data.get("id") != me:
                await broadcast.publish_json(channel, _event("here", me, name))
    except trio_ws.WebSocketDisconnect:
        return


def _static(filename: str, media_type: str) -> Route:
    body = (STATIC / filename).read_bytes()

    async def serve_file(request: Request) -> Response:
        return Response(body, media_type=media_type, headers={"cache-control": "no-cache"})

    return Route("/" if filename == "index.html" else f"/{filename}", serve_file)


def create_app(
    broadcast: trio_ws.Broadcast,
    *,
    origins: Iterable[str | re.Pattern[str]] = (LOOPBACK_ORIGIN,),
    max_message_size: int = 4096,
    rate_limit: trio_ws.RateLimit | None = None,
    idle_timeout: float = 600.0,
) -> Starlette:
    """The chat as a Starlette application, publishing through ``broadcast`` (already running).

    Args:
      broadcast: a running :class:`trio_ws.Broadcast` (``async with`` it around the server).
      origins: the page origins allowed to open the websocket (default: any loopback page).
      max_message_size: bytes per client message; larger ones close the socket with 1009.
      rate_limit: messages per second per client (default: 5 per second, bursts of 10);
        a client over the limit is closed with 1008.
      idle_timeout: seconds a client may stay silent before it is closed with 1001.
    """
    socket = trio_ws.websocket_app(
        chat_handler(broadcast),
        allowed_origins=list(origins),
        max_message_size=max_message_size,
        rate_limit=rate_limit or trio_ws.RateLimit(5, 10),
        idle_timeout=idle_timeout,
    )
    return Starlette(
        routes=[
            _static("index.html", "text/html; charset=utf-8"),
            _static("chat.js", "text/javascript; charset=utf-8"),
            _static("chat.css", "text/css; charset=utf-8"),
            WebSocketRoute("/ws", socket),
        ]
    )

"""The chat application: one Starlette app, three static files and one websocket route.

The protocol on ``/ws?name=NAME&room=ROOM`` (both 1-32 characters):

* the client sends each chat message as a text frame (at most ``MAX_TEXT`` characters after
  trimming; the page refuses longer ones before sending, the server closes with 1009);
* the server sends JSON events: first ``{"type": "welcome", "id", "name", "room", "worker",
  "max_text"}`` (``id`` is this connection's, ``worker`` the serving process's pid), then
  ``{"type": "presence", "members": [{"id", "name"}, ...], "joined": [...], "left": [...]}``
  with the room's whole member list (the first one with ``joined``/``left`` empty, then one
  per change), ``{"type": "message", "id", "name", "text"}`` for messages, and
  ``{"type": "notice", "text"}`` when messages may have been missed.

Presence is `Broadcast.track`: each connection announces itself (key: its id, meta: its
name) for as long as it is open, on every process sharing the broadcast (Redis), and a member
of a worker that crashed disappears within ``PRESENCE_TTL`` seconds.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

import trio_ws

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

    from starlette.requests import Request

    from trio_ws.broadcast import Presence, Subscriber

__all__ = ["CLOSE_CODES", "LOOPBACK_ORIGIN", "MAX_TEXT", "PRESENCE_TTL", "app", "create_app"]

STATIC = Path(__file__).parent / "static"
#: Pages served from this machine, on any port: the demo's own page, wherever it is bound.
LOOPBACK_ORIGIN = re.compile(r"https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?")
NAME = re.compile(r"[^\x00-\x1f\x7f]{1,32}")
ROOM = re.compile(r"[\w.-]{1,32}")
MAX_TEXT = 1000
#: Seconds within which the members of a crashed worker leave every list.
PRESENCE_TTL = float(os.environ.get("CHAT_PRESENCE_TTL", "10"))

BAD_REQUEST = 4400
#: Every close code a page can receive from this server, and where it comes from; chat.js
#: explains exactly these (tests/examples/test_chat.py keeps the two in step). A refused
#: handshake (an Origin not allowed) is not among them: the browser only sees 1006 then.
CLOSE_CODES = {
    1001: "shutdown (python -m trio_ws --shutdown-close-code 1001) or idle_timeout",
    1006: "no close frame: the connection was lost, or the handshake was refused",
    1008: "rate_limit",
    1009: "a message over max_message_size bytes or over MAX_TEXT characters",
    1011: "an error in the handler, or the broadcast backend unavailable",
    1012: "shutdown with --shutdown-close-code 1012",
    BAD_REQUEST: "a missing or malformed name or room",
}


def _members(listing: dict[str, list[Any]]) -> list[dict[str, str]]:
    members = [
        {"id": key, "name": str(meta["name"])} for key, metas in listing.items() for meta in metas
    ]
    return sorted(members, key=lambda member: (member["name"].casefold(), member["id"]))


def _presence_event(
    presence: Presence, joined: dict[str, list[Any]], left: dict[str, list[Any]]
) -> dict[str, Any]:
    return {
        "type": "presence",
        "members": _members(presence.list()),
        "joined": _members(joined),
        "left": _members(left),
    }


def chat_handler(
    broadcast: Callable[[], trio_ws.Broadcast],
) -> Callable[[trio_ws.WebSocket], Awaitable[None]]:
    """The websocket handler of one chat connection, talking through ``broadcast()``."""

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
        hub = broadcast()
        try:
            async with (
                hub.subscribe(channel, buffer=64) as subscriber,
                hub.track(channel, me, {"name": name}, ttl=PRESENCE_TTL) as presence,
                hub.publisher() as publisher,  # pipelined: no round trip per message
            ):
                await ws.send_json(
                    {"type": "welcome", "id": me, "name": name, "room": room,
                     "worker": os.getpid(), "max_text": MAX_TEXT}
                )  # fmt: skip
                await ws.send_json(_presence_event(presence, {}, {}))
                ws.start_soon(_relay_messages, ws, subscriber)
                ws.start_soon(_relay_presence, ws, presence)
                async for text in ws.iter_text():
                    text = text.strip()
                    if len(text) > MAX_TEXT:
                        raise trio_ws.WebSocketException(1009, f"at most {MAX_TEXT} characters")
                    if text:
                        message = {"type": "message", "id": me, "name": name, "text": text}
                        await publisher.publish_json(channel, message)
        except trio_ws.BroadcastUnavailable:
            raise trio_ws.WebSocketException(1011, "the chat backend is unavailable") from None

    return chat


async def _relay_messages(ws: trio_ws.WebSocket, subscriber: Subscriber) -> None:
    """Send the room's messages to this socket; say so when some may have been missed.

    Returns when the client has gone (its disconnect is the handler's to report, not ours).
    """
    with contextlib.suppress(trio_ws.WebSocketDisconnect):
        while True:
            try:
                async for event in subscriber:
                    await ws.send_text(str(event.message))
                return
            except trio_ws.BroadcastGap:
                notice = "the link to the chat backend was lost: messages may be missing"
                await ws.send_json({"type": "notice", "text": notice})


async def _relay_presence(ws: trio_ws.WebSocket, presence: Presence) -> None:
    """Send the room's member list to this socket each time it changes."""
    with contextlib.suppress(trio_ws.WebSocketDisconnect):
        async for diff in presence.diffs():
            await ws.send_json(_presence_event(presence, diff.joins, diff.leaves))


def _static(filename: str, media_type: str) -> Route:
    body = (STATIC / filename).read_bytes()

    async def serve_file(request: Request) -> Response:
        return Response(body, media_type=media_type, headers={"cache-control": "no-cache"})

    return Route("/" if filename == "index.html" else f"/{filename}", serve_file)


def create_app(
    broadcast: trio_ws.Broadcast | None = None,
    *,
    origins: Iterable[str | re.Pattern[str]] = (LOOPBACK_ORIGIN,),
    max_message_size: int = 4096,
    rate_limit: trio_ws.RateLimit | None = None,
    idle_timeout: float = 600.0,
) -> Starlette:
    """The chat as a Starlette application.

    Args:
      broadcast: a running `trio_ws.Broadcast` (``async with`` it around the server); by
        default the app opens its own in its lifespan, on ``$CHAT_BROADCAST_URL`` (default
        ``memory://``; ``redis://...`` shares rooms and presence between workers).
      origins: the page origins allowed to open the websocket (default: any loopback page).
      max_message_size: bytes per client message; larger ones close the socket with 1009.
      rate_limit: messages per second per client (default: 5 per second, bursts of 10);
        a client over the limit is closed with 1008.
      idle_timeout: seconds a client may stay silent before it is closed with 1001.
    """
    opened: list[trio_ws.Broadcast] = [] if broadcast is None else [broadcast]

    def current() -> trio_ws.Broadcast:
        if not opened:
            raise RuntimeError("the chat's Broadcast is not open: run the app's lifespan")
        return opened[-1]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if broadcast is not None:
            yield
            return
        async with trio_ws.Broadcast(os.environ.get("CHAT_BROADCAST_URL", "memory://")) as own:
            opened.append(own)
            try:
                yield
            finally:
                opened.remove(own)

    socket = trio_ws.websocket_app(
        chat_handler(current),
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
        ],
        lifespan=lifespan,
    )


#: For ``python -m trio_ws examples.chat.app:app`` (``--workers N`` with
#: ``CHAT_BROADCAST_URL=redis://...``): the Broadcast opens in the lifespan.
app = create_app()

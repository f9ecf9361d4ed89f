"""A Starlette application with trio_ws: an HTML page, chat rooms, authentication, lifespan.

Serve it with hypercorn's trio worker or with trio_ws's server::

    python3 -m hypercorn --worker-class trio --bind 127.0.0.1:8000 examples.starlette_app:app
    python3 -m trio_ws examples.starlette_app:app

then open http://127.0.0.1:8000/?token=alice-token in a browser.

Routes (Starlette routes them; trio_ws runs the sockets):

* ``GET /``                 a small HTML chat client.
* ``WS  /rooms/{room}``     a chat room (``websocket_app``): members must be logged in
  (Starlette's ``AuthenticationMiddleware`` sets ``scope["user"]`` from a ``token`` query
  parameter or cookie); a browser page from another site is refused by ``allowed_origins``;
  idle members are closed after 5 minutes (1001); more than 10 messages at once, or 5 per
  second sustained, closes with 1008; messages over 4 KiB close with 1009.
* ``WS  /items/{id:int}``   a ``trio_ws.WebSocketEndpoint`` class speaking JSON: it answers
  each message with ``{"item": id, "echo": message}``; anything that is not JSON closes it
  with 1007.

Refusals happen *before* the handshake is accepted: an anonymous client gets HTTP 401 with
``WWW-Authenticate``, a foreign page HTTP 403, and no handler code runs for either.
"""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.responses import HTMLResponse
from starlette.routing import Route, WebSocketRoute

from trio_ws import (
    PlainTextResponse,
    RateLimit,
    Response,
    WebSocket,
    WebSocketEndpoint,
    websocket_app,
)

from .rooms import Rooms

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.requests import HTTPConnection, Request

#: token -> user name (a real application asks its user store).
TOKENS = {"alice-token": "alice", "bob-token": "bob"}

#: Pages allowed to open the chat socket: this server on localhost (any port), and clients
#: that send no Origin at all (not browsers: command-line tools, other servers).
ALLOWED_ORIGINS = [re.compile(r"https?://(localhost|127\.0\.0\.1)(:\d+)?"), None]


class TokenBackend(AuthenticationBackend):
    """Log a connection in from ``?token=`` or the ``token`` cookie."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        token = conn.query_params.get("token") or conn.cookies.get("token")
        name = TOKENS.get(token or "")
        if name is None:
            return None  # Starlette sets an UnauthenticatedUser
        return AuthCredentials(["authenticated"]), SimpleUser(name)


async def require_login(ws: WebSocket) -> Response | None:
    """trio_ws's handshake guard: refuse anonymous clients with 401 before accepting."""
    user = ws.scope.get("user")
    if user is None or not user.is_authenticated:
        return PlainTextResponse(
            "log in first", status_code=401, headers={"www-authenticate": 'Bearer realm="chat"'}
        )
    return None


async def chat(ws: WebSocket) -> None:
    """One member of a room: announce, relay each message to the room, announce the exit."""
    rooms: Rooms = ws.state.rooms  # made by the lifespan, copied into each scope by the server
    room = ws.path_params["room"]
    name = ws.scope["user"].display_name
    await ws.accept()
    with rooms.joined(room, ws):
        await rooms.send(room, f"{name} joined {room}")
        async for text in ws.iter_text():
            await rooms.send(room, f"{name}: {text}")
    await rooms.send(room, f"{name} left")


class Item(WebSocketEndpoint):
    """JSON in, JSON out, for one item."""

    encoding = "json"
    max_message_size = 1024

    async def on_receive(self, ws: WebSocket, data: Any) -> None:
        await ws.send_json({"item": ws.path_params["id"], "echo": data})


PAGE = """<!doctype html>
<title>trio_ws chat</title>
<ul id="log"></ul>
<form id="say"><input id="text" autocomplete="off"><button>Send</button></form>
<script>
  const token = new URLSearchParams(location.search).get("token") || "";
  const url = new URL("/rooms/lobby?token=" + encodeURIComponent(token), location.href);
  url.protocol = url.protocol.replace("http", "ws");
  const ws = new WebSocket(url);
  const log = document.getElementById("log");
  ws.onmessage = (event) => {
    const li = document.createElement("li");
    li.textContent = event.data;
    log.appendChild(li);
  };
  document.getElementById("say").onsubmit = (event) => {
    event.preventDefault();
    const input = document.getElementById("text");
    ws.send(input.value);
    input.value = "";
  };
</script>
"""


async def homepage(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    """Application-wide objects: the server copies this state into every connection's scope."""
    yield {"rooms": Rooms()}


chat_app = websocket_app(
    chat,
    authenticate=require_login,
    allowed_origins=ALLOWED_ORIGINS,
    idle_timeout=300,
    rate_limit=RateLimit(rate=5, burst=10),
    max_message_size=4096,
)

app = Starlette(
    routes=[
        Route("/", homepage, name="home"),
        WebSocketRoute("/rooms/{room}", chat_app, name="room"),
        WebSocketRoute("/items/{id:int}", Item, name="item"),
    ],
    middleware=[Middleware(AuthenticationMiddleware, backend=TokenBackend())],
    lifespan=lifespan,
)

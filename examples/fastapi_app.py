"""A FastAPI application with trio_ws: an HTML page, chat rooms behind a dependency, lifespan.

Serve it with hypercorn's trio worker or with trio_ws's server::

    python3 -m hypercorn --worker-class trio --bind 127.0.0.1:8000 examples.fastapi_app:app
    python3 -m trio_ws examples.fastapi_app:app

then open http://127.0.0.1:8000/?token=alice-token in a browser.

Routes:

* ``GET /``                 the HTML chat client (the same page as the Starlette example).
* ``WS  /rooms/{room}``     a FastAPI websocket endpoint: ``Depends(current_user)`` logs the
  client in from ``?token=`` or the ``token`` cookie (an unknown token is refused, HTTP 403,
  before accept); the endpoint then switches to trio_ws with ``trio_ws.adopt(websocket)``
  and runs the room in structured mode.
* ``WS  /items/{id:int}``   a trio_ws application routed by FastAPI
  (``app.router.add_websocket_route``), with trio_ws's own guards: the same token check as a
  handshake guard (HTTP 401 with ``WWW-Authenticate``), and a 10 s first-message timeout.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

import fastapi
from fastapi import Depends, FastAPI, status
from fastapi.responses import HTMLResponse

import trio_ws
from trio_ws import PlainTextResponse, Response, WebSocket, websocket_app

from .rooms import Rooms
from .starlette_app import PAGE, TOKENS

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def user_for(token: str | None) -> str | None:
    """The user a token belongs to (a real application asks its user store)."""
    return TOKENS.get(token or "")


async def current_user(websocket: fastapi.WebSocket, token: str | None = None) -> str:
    """FastAPI dependency: the logged-in user, or the handshake is refused (HTTP 403)."""
    user = user_for(token or websocket.cookies.get("token"))
    if user is None:
        raise fastapi.WebSocketException(status.WS_1008_POLICY_VIOLATION, "log in first")
    return user


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """Application-wide objects: the server copies this state into every connection's scope."""
    yield {"rooms": Rooms()}


app = FastAPI(lifespan=lifespan)


@app.get("/", response_class=HTMLResponse)
async def home() -> str:
    return PAGE


@app.websocket("/rooms/{room}")
async def chat(
    websocket: fastapi.WebSocket, room: str, user: Annotated[str, Depends(current_user)]
) -> None:
    """FastAPI resolved the path and the user; trio_ws runs the connection from here on."""
    rooms: Rooms = websocket.state.rooms
    async with trio_ws.adopt(websocket) as ws:
        await ws.accept()
        with rooms.joined(room, ws):
            await rooms.send(room, f"{user} joined {room}")
            async for text in ws.iter_text():
                await rooms.send(room, f"{user}: {text}")
        await rooms.send(room, f"{user} left")


async def token_guard(ws: WebSocket) -> Response | None:
    """trio_ws's handshake guard: the same check as ``current_user``, refusing with 401."""
    user = user_for(ws.query_params.get("token") or ws.cookies.get("token"))
    if user is None:
        return PlainTextResponse(
            "log in first", status_code=401, headers={"www-authenticate": 'Bearer realm="chat"'}
        )
    ws.state.user = user
    return None


async def item(ws: WebSocket) -> None:
    """JSON in, JSON out, for one item, as the logged-in user."""
    await ws.accept()
    async for data in ws.iter_json():
        await ws.send_json({"item": ws.path_params["id"], "user": ws.state.user, "echo": data})


app.router.add_websocket_route(
    "/items/{id:int}",
    websocket_app(item, authenticate=token_guard, first_message_timeout=10),
    name="item",
)

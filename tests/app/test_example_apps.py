"""examples/starlette_app.py and examples/fastapi_app.py: routes with path parameters, an HTML
page, authentication before accept and lifespan state, in memory and over real servers
(hypercorn's trio worker and trio_ws.serve) with trio-websocket and websockets clients."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio_websocket
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as sync_connect

import trio_ws
from examples import fastapi_app, starlette_app
from examples.rooms import Rooms
from trio_ws.testing import ConnectionClosed, ConnectionRejected, connect

from ._servers import CLIENT, SERVERS, http_get, rejection, served

if TYPE_CHECKING:
    from trio_ws._types import ASGIApp, Receive, Scope, Send

APPS = {"starlette": starlette_app.app, "fastapi": fastapi_app.app}


def with_lifespan_state(app: ASGIApp, state: dict[str, Any]) -> ASGIApp:
    """What a server does after running the lifespan: copy its state into each scope."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"] = dict(state)
        await app(scope, receive, send)

    return wrapped


# ----------------------------------------------------------------- routing


@pytest.mark.parametrize("name", list(APPS))
def test_url_path_for_finds_the_websocket_routes(name: str) -> None:
    app = APPS[name]
    assert app.url_path_for("room" if name == "starlette" else "chat", room="lobby") == (
        "/rooms/lobby"
    )
    assert app.url_path_for("item", id=12) == "/items/12"


# ----------------------------------------------------------------- Starlette, in memory


async def test_starlette_room_relays_between_members_in_memory() -> None:
    rooms = Rooms()
    app = with_lifespan_state(starlette_app.app, {"rooms": rooms})
    with trio.fail_after(5):
        async with connect(app, "/rooms/lobby?token=alice-token") as alice:
            assert await alice.receive_text() == "alice joined lobby"
            async with connect(app, "/rooms/lobby", headers={"cookie": "token=bob-token"}) as bob:
                assert await alice.receive_text() == "bob joined lobby"
                assert await bob.receive_text() == "bob joined lobby"
                await bob.send_text("hi")
                assert await alice.receive_text() == "bob: hi"
                assert await bob.receive_text() == "bob: hi"
            assert await alice.receive_text() == "bob left"
            assert rooms.members("lobby") == 1


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/rooms/lobby", {}, 401),
        ("/rooms/lobby?token=wrong", {}, 401),
        ("/rooms/lobby?token=alice-token", {"origin": "https://evil.example"}, 403),
    ],
)
async def test_starlette_room_refuses_before_accept_in_memory(
    path: str, headers: dict[str, str], status: int
) -> None:
    app = with_lifespan_state(starlette_app.app, {"rooms": Rooms()})
    with trio.fail_after(5), pytest.raises(ConnectionRejected) as rejected:
        async with connect(app, path, headers=headers):
            pass
    assert rejected.value.status_code == status


async def test_starlette_item_endpoint_in_memory() -> None:
    with trio.fail_after(5):
        async with connect(starlette_app.app, "/items/7") as client:
            await client.send_json({"q": 1})
            assert await client.receive_json() == {"item": 7, "echo": {"q": 1}}
            await client.send_text("not json")
            with pytest.raises(ConnectionClosed) as closed:
                await client.receive()
            assert closed.value.code == 1007


# ----------------------------------------------------------------- FastAPI, in memory


async def test_fastapi_item_route_with_trio_ws_guard_in_memory() -> None:
    with trio.fail_after(5):
        async with connect(fastapi_app.app, "/items/3?token=bob-token") as client:
            await client.send_json([1])
            assert await client.receive_json() == {"item": 3, "user": "bob", "echo": [1]}
        with pytest.raises(ConnectionRejected) as rejected:
            async with connect(fastapi_app.app, "/items/3"):
                pass
        assert rejected.value.status_code == 401


async def test_fastapi_dependency_refuses_an_unknown_token_before_accept() -> None:
    app = with_lifespan_state(fastapi_app.app, {"rooms": Rooms()})
    with trio.fail_after(5), pytest.raises(ConnectionRejected) as rejected:
        async with connect(app, "/rooms/lobby?token=nope"):
            pass
    assert rejected.value.status_code == 403


async def test_fastapi_room_relays_between_members_in_memory() -> None:
    app = with_lifespan_state(fastapi_app.app, {"rooms": Rooms()})
    with trio.fail_after(5):
        async with connect(app, "/rooms/lobby?token=alice-token") as alice:
            assert await alice.receive_text() == "alice joined lobby"
            async with connect(app, "/rooms/lobby?token=bob-token") as bob:
                assert await alice.receive_text() == "bob joined lobby"
                await bob.receive_text()
                await alice.send_text("yo")
                assert await bob.receive_text() == "alice: yo"
                assert await alice.receive_text() == "alice: yo"
            assert await alice.receive_text() == "bob left"


# ----------------------------------------------------------------- over real servers


async def _chat_over_sockets(url: str) -> None:
    async with trio_websocket.open_websocket_url(
        url + "/rooms/r1?token=alice-token", **CLIENT
    ) as alice:
        assert await alice.get_message() == "alice joined r1"
        async with trio_websocket.open_websocket_url(
            url + "/rooms/r1?token=bob-token", **CLIENT
        ) as bob:
            assert await alice.get_message() == "bob joined r1"
            assert await bob.get_message() == "bob joined r1"
            await alice.send_message("hello bob")
            assert await bob.get_message() == "alice: hello bob"
            assert await alice.get_message() == "alice: hello bob"
        assert await alice.get_message() == "bob left"


async def _items_over_sockets(url: str, path: str, expected: dict[str, Any]) -> None:
    async with trio_websocket.open_websocket_url(url + path, **CLIENT) as ws:
        await ws.send_message('{"n": 5}')
        assert await ws.get_message() == trio_ws.JSONResponse(expected).body.decode()


def _websockets_status(url: str) -> int:
    """Open with the websockets client (threaded, sync API); the HTTP status it got."""
    try:
        with sync_connect(url, open_timeout=5) as client:
            client.send("{}")
            client.recv(timeout=5)
            return 101
    except InvalidStatus as refusal:
        return refusal.response.status_code


@pytest.mark.hypercorn
@pytest.mark.parametrize("server", SERVERS)
async def test_starlette_example_over_real_servers(server: str) -> None:
    with trio.fail_after(15):
        async with served(starlette_app.app, server) as url:
            status, body = await http_get(url, "/")
            assert status == 200
            assert b"<title>trio_ws chat</title>" in body
            await _chat_over_sockets(url)  # the rooms come from the lifespan
            refused = await rejection(url + "/rooms/r1")
            assert refused.status_code == 401
            assert (b"www-authenticate", b'Bearer realm="chat"') in refused.headers
            foreign = await rejection(
                url + "/rooms/r1?token=bob-token", extra_headers=[(b"origin", b"https://evil.net")]
            )
            assert foreign.status_code == 403
            await _items_over_sockets(url, "/items/9", {"item": 9, "echo": {"n": 5}})
            assert await trio.to_thread.run_sync(_websockets_status, url + "/rooms/r1") == 401
            assert await trio.to_thread.run_sync(_websockets_status, url + "/items/1") == 101


@pytest.mark.hypercorn
@pytest.mark.parametrize("server", SERVERS)
async def test_fastapi_example_over_real_servers(server: str) -> None:
    with trio.fail_after(15):
        async with served(fastapi_app.app, server) as url:
            status, body = await http_get(url, "/")
            assert status == 200
            assert b"<title>trio_ws chat</title>" in body
            await _items_over_sockets(
                url, "/items/4?token=alice-token", {"item": 4, "user": "alice", "echo": {"n": 5}}
            )
            assert (await rejection(url + "/items/4")).status_code == 401
            assert (await rejection(url + "/rooms/r1?token=nope")).status_code == 403


@pytest.mark.hypercorn
@pytest.mark.parametrize("server", SERVERS)
async def test_fastapi_rooms_over_real_servers(server: str) -> None:
    with trio.fail_after(15):
        async with served(fastapi_app.app, server) as url:
            await _chat_over_sockets(url)

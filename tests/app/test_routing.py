"""A WebSocketApp inside Starlette's and FastAPI's routers: path parameters, Mount, url_path_for."""

from __future__ import annotations

import pytest
import trio
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount, WebSocketRoute

from trio_ws import WebSocket, websocket_app
from trio_ws.testing import ConnectionRejected, connect


async def report_params(ws: WebSocket) -> None:
    await ws.accept()
    await ws.send_json({"params": ws.path_params, "root_path": ws.scope.get("root_path", "")})


room_app = websocket_app(report_params)


def starlette_app() -> Starlette:
    return Starlette(
        routes=[
            WebSocketRoute("/rooms/{room}", room_app, name="room"),
            WebSocketRoute("/items/{id:int}", websocket_app(report_params), name="item"),
            Mount("/mounted/{tenant}", app=websocket_app(report_params), name="mounted"),
        ]
    )


def fastapi_app() -> FastAPI:
    app = FastAPI()
    app.router.add_websocket_route("/rooms/{room}", room_app, name="room")
    app.router.add_websocket_route("/items/{id:int}", websocket_app(report_params), name="item")
    return app


@pytest.mark.parametrize("make", [starlette_app, fastapi_app], ids=["starlette", "fastapi"])
async def test_path_parameters_with_convertors_reach_ws_path_params(make: object) -> None:
    app = make()  # type: ignore[operator]
    with trio.fail_after(5):
        async with connect(app, "/rooms/lobby") as client:
            assert (await client.receive_json())["params"] == {"room": "lobby"}
        async with connect(app, "/items/42") as client:
            assert (await client.receive_json())["params"] == {"id": 42}


@pytest.mark.parametrize("make", [starlette_app, fastapi_app], ids=["starlette", "fastapi"])
async def test_a_path_the_convertor_refuses_is_not_routed(make: object) -> None:
    app = make()  # type: ignore[operator]
    with trio.fail_after(5), pytest.raises(ConnectionRejected) as rejected:
        async with connect(app, "/items/abc"):
            pass
    assert rejected.value.status_code == 403


async def test_mounted_application_gets_mount_params_and_root_path() -> None:
    with trio.fail_after(5):
        async with connect(starlette_app(), "/mounted/acme/") as client:
            reply = await client.receive_json()
    assert reply["params"] == {"tenant": "acme"}
    assert reply["root_path"] == "/mounted/acme"


@pytest.mark.parametrize("make", [starlette_app, fastapi_app], ids=["starlette", "fastapi"])
def test_url_path_for_finds_the_routes(make: object) -> None:
    app = make()  # type: ignore[operator]
    assert app.url_path_for("room", room="lobby") == "/rooms/lobby"
    assert app.url_path_for("item", id=7) == "/items/7"


def test_route_is_named_after_the_handler_by_default() -> None:
    app = Starlette(routes=[WebSocketRoute("/x", room_app)])
    assert app.url_path_for("report_params") == "/x"

"""trio_ws.WebSocketEndpoint on its own: an ASGI app, with guards and limits as class attributes."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket

import trio_ws
from trio_ws import PlainTextResponse, Response, WebSocket, WebSocketEndpoint
from trio_ws.testing import ConnectionClosed, ConnectionRejected, connect

from ._servers import CLIENT, SERVERS, http_get, served


class Guarded(WebSocketEndpoint):
    encoding = "json"
    allowed_origins = ("https://chat.example.com", None)
    idle_timeout = 5.0
    max_message_size = 64

    async def authenticate(self, ws: WebSocket) -> Response | None:
        if ws.query_params.get("token") != "ok":
            return PlainTextResponse("no", status_code=401)
        ws.state.user = "bob"
        return None

    async def on_receive(self, ws: WebSocket, data: Any) -> None:
        await ws.send_json({"user": ws.state.user, "data": data})


async def test_endpoint_class_is_an_asgi_app_with_its_guards() -> None:
    with trio.fail_after(5):
        async with connect(Guarded, "/?token=ok") as client:
            await client.send_json([1, 2])
            assert await client.receive_json() == {"user": "bob", "data": [1, 2]}
        with pytest.raises(ConnectionRejected) as rejected:
            async with connect(Guarded, "/?token=bad"):
                pass
        assert rejected.value.status_code == 401
        with pytest.raises(ConnectionRejected) as rejected:
            async with connect(Guarded, "/?token=ok", headers={"origin": "https://evil.net"}):
                pass
        assert rejected.value.status_code == 403


async def test_endpoint_class_limits_apply(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with connect(Guarded, "/?token=ok") as client:
            await client.send_text('"' + "x" * 70 + '"')
            with pytest.raises(ConnectionClosed) as closed:
                await client.receive()
            assert closed.value.code == 1009
        async with connect(Guarded, "/?token=ok") as client:
            start = trio.current_time()
            with pytest.raises(ConnectionClosed) as closed:
                await client.receive()
            assert closed.value.code == 1001
            assert trio.current_time() - start == pytest.approx(5.0)


async def test_hooks_run_in_structured_mode() -> None:
    """ws.nursery is there: a task started in on_connect sends while on_receive handles."""

    class Ticker(WebSocketEndpoint):
        async def on_connect(self, ws: WebSocket) -> None:
            await ws.accept()
            ws.start_soon(ws.send_text, "tick")

    with trio.fail_after(5):
        async with connect(Ticker) as client:
            assert await client.receive_text() == "tick"


@pytest.mark.parametrize(
    ("attributes", "error"),
    [
        ({"encoding": "xml"}, ValueError),
        ({"idle_timeout": 0}, ValueError),
        ({"allowed_origins": "https://a.example"}, TypeError),
        ({"rate_limit": 10}, TypeError),
    ],
)
def test_invalid_class_attributes_fail_when_the_class_is_defined(
    attributes: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        type("Bad", (WebSocketEndpoint,), attributes)


@pytest.mark.hypercorn
@pytest.mark.parametrize("server", SERVERS)
async def test_endpoint_served_directly_over_real_sockets(server: str) -> None:
    class Limited(Guarded):
        rate_limit = trio_ws.RateLimit(rate=0.5, burst=2)

    with trio.fail_after(10):
        async with served(Limited, server) as url:
            assert (await http_get(url, "/"))[0] == 426
            async with trio_websocket.open_websocket_url(url + "/?token=ok", **CLIENT) as ws:
                await ws.send_message('{"a": 1}')
                assert await ws.get_message() == '{"user":"bob","data":{"a":1}}'
                await ws.send_message("{broken")
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    await ws.get_message()
                assert closed.value.reason.code == 1007
            with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
                async with trio_websocket.open_websocket_url(url + "/?token=no", **CLIENT):
                    pass
            assert rejected.value.status_code == 401


async def test_on_disconnect_gets_the_timeout_code_and_may_await(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A timeout cancels the hooks; on_disconnect still runs after the close, shielded, with the
    code the client got (it may await: a cleanup that talks to other tasks works)."""
    ended: list[int] = []

    class Idle(WebSocketEndpoint):
        idle_timeout = 5.0

        async def on_receive(self, ws: WebSocket, data: Any) -> None:
            await trio.sleep(60)  # busy when the timeout comes

        async def on_disconnect(self, ws: WebSocket, close_code: int) -> None:
            await trio.sleep(0.1)
            ended.append(close_code)

    with trio.fail_after(60):
        async with connect(Idle) as client:
            await client.send_text("work")
            with pytest.raises(ConnectionClosed) as closed:
                await client.receive()
            await client.wait_app_finished()
    assert closed.value.code == 1001
    assert ended == [1001]

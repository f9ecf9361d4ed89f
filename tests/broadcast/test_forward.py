"""``Broadcast.forward``: a channel to a websocket, on a real trio_ws.serve with real clients."""

from __future__ import annotations

import json

import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from trio_ws import Broadcast, WebSocket, WebSocketDisconnect, websocket_app
from trio_ws.broadcast._forward import forward_to_websocket
from trio_ws.testing import serve_app

from ._support import wait_until

CLIENT = {"connect_timeout": 5, "disconnect_timeout": 2}


def forwarding_app(broadcast: Broadcast, log: list[str], **options: object) -> object:
    """Each connection: forward "room" to it; log how forward ended."""

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await broadcast.forward("room", ws, **options)  # type: ignore[arg-type]
        except BaseException as exc:
            log.append(f"raised {exc!r}")
            raise
        log.append(f"returned {ws.close_code}")

    return websocket_app(handler)


async def test_forward_delivers_to_every_socket_and_returns_when_its_client_leaves() -> None:
    log: list[str] = []
    with trio.fail_after(20):
        async with (
            Broadcast() as broadcast,
            serve_app(forwarding_app(broadcast, log)) as url,  # type: ignore[arg-type]
            open_websocket_url(url + "/", **CLIENT) as staying,
        ):
            async with open_websocket_url(url + "/", **CLIENT) as leaving:
                await wait_until(lambda: len(broadcast._hub.subscribers("room")) == 2)
                await broadcast.publish("room", "to both")
                await broadcast.publish("room", b"bytes too")
                assert await staying.get_message() == "to both"
                assert await leaving.get_message() == "to both"
                assert await leaving.get_message() == b"bytes too"
                assert await staying.get_message() == b"bytes too"
            # the leaving client's handler: forward returned normally, its subscription is gone
            await wait_until(lambda: len(log) == 1)
            assert log[0].startswith("returned ")
            assert len(broadcast._hub.subscribers("room")) == 1
            await broadcast.publish("room", "still here")
            assert await staying.get_message() == "still here"
    # after the server closed the staying socket too: both forwards ended normally
    assert len(log) == 2
    assert all(entry.startswith("returned") for entry in log), log


async def test_a_socket_that_falls_behind_with_overflow_close_is_closed_with_its_code() -> None:
    log: list[str] = []

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        async with broadcast.subscribe("room", buffer=2, overflow="close") as subscriber:
            # publish a burst before the forwarding starts: the buffer overflows
            for n in range(5):
                await broadcast.publish("room", str(n))
            await forward_to_websocket(subscriber, ws)
        log.append(f"returned {ws.close_code} {ws.close_reason}")

    with trio.fail_after(20):
        async with (
            Broadcast() as broadcast,
            serve_app(websocket_app(handler, overflow_close_code=1013)) as url,
            open_websocket_url(url + "/", **CLIENT) as client,
        ):
            assert await client.get_message() == "0"
            assert await client.get_message() == "1"
            with pytest.raises(ConnectionClosed) as closed:
                await client.get_message()
            assert closed.value.reason.code == 1013
            assert "3 message(s) missed" in closed.value.reason.reason
            await wait_until(lambda: len(log) == 1)
    assert log[0].startswith("returned 1013")


class _SocketRaisingAForeignDisconnect:
    """A stand-in WebSocket (direct mode) whose send raises a WebSocketDisconnect while it is
    itself still open: a disconnect that cannot be its own."""

    close_code = None

    def cancel_on_disconnect(self) -> None:
        raise RuntimeError("direct mode")

    async def send_text(self, data: str) -> None:
        await trio.lowlevel.checkpoint()
        raise WebSocketDisconnect(1001)


async def test_forward_does_not_swallow_a_disconnect_that_is_not_its_sockets() -> None:
    with trio.fail_after(5):
        async with Broadcast() as broadcast, broadcast.subscribe("room") as subscriber:
            await broadcast.publish("room", "x")
            with pytest.raises(WebSocketDisconnect):
                await forward_to_websocket(
                    subscriber,
                    _SocketRaisingAForeignDisconnect(),  # type: ignore[arg-type]
                )


def resuming_app(broadcast: Broadcast) -> object:
    """Each connection: forward "room" from the ``since`` query parameter on, each message as
    JSON with its id, and a gap as ``{"gap": true}``."""

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await broadcast.forward(
            "room",
            ws,
            since=ws.query_params.get("since"),
            render=lambda event: json.dumps({"id": event.id, "message": event.message}),
            on_gap=lambda gap: json.dumps({"gap": True}),
        )

    return websocket_app(handler)


async def test_a_client_that_reconnects_with_since_misses_nothing(broadcast_url: str) -> None:
    with trio.fail_after(20):
        async with (
            Broadcast(broadcast_url, history=4) as broadcast,
            serve_app(resuming_app(broadcast)) as url,  # type: ignore[arg-type]
        ):
            async with broadcast.subscribe("room") as local:
                await broadcast.publish("room", "before anyone")
                start = (await anext(local)).id
            # from `start` on, so that the messages published while the client's subscription
            # is being confirmed are replayed, not lost
            async with open_websocket_url(f"{url}/?since={start}", **CLIENT) as client:
                await broadcast.publish("room", "one")
                await broadcast.publish("room", "two")
                first = [json.loads(await client.get_message()) for _ in range(2)]
            assert [item["message"] for item in first] == ["one", "two"]
            last_seen = first[-1]["id"]
            await wait_until(lambda: not broadcast._hub.subscribers("room"))
            await broadcast.publish("room", "three")  # while the client is away
            async with open_websocket_url(f"{url}/?since={last_seen}", **CLIENT) as client:
                assert json.loads(await client.get_message())["message"] == "three"
                await broadcast.publish("room", "four")
                assert json.loads(await client.get_message())["message"] == "four"
            # away for longer than the history covers: a gap notice, then what it holds
            for n in range(5):
                await broadcast.publish("room", f"later {n}")
            async with open_websocket_url(f"{url}/?since={last_seen}", **CLIENT) as client:
                assert json.loads(await client.get_message()) == {"gap": True}
                got = [json.loads(await client.get_message())["message"] for _ in range(4)]
                assert got == ["later 1", "later 2", "later 3", "later 4"]


async def test_render_and_on_gap_must_return_str_or_bytes() -> None:
    with trio.fail_after(5):
        async with Broadcast(history=2) as broadcast:
            async with broadcast.subscribe("room") as subscriber:
                await broadcast.publish("room", "x")
                with pytest.raises(TypeError, match="render must return str or bytes"):
                    await forward_to_websocket(
                        subscriber,
                        _SocketRaisingAForeignDisconnect(),  # type: ignore[arg-type]
                        render=lambda event: 42,  # type: ignore[arg-type,return-value]
                    )
            async with broadcast.subscribe("room", since="999-0") as subscriber:
                with pytest.raises(TypeError, match="on_gap must return str or bytes"):
                    await forward_to_websocket(
                        subscriber,
                        _SocketRaisingAForeignDisconnect(),  # type: ignore[arg-type]
                        on_gap=lambda gap: 42,  # type: ignore[arg-type,return-value]
                    )

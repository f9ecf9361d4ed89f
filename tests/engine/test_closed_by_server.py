"""``closed_by`` says who really closed: an end the engine decided is the server's, not the
client's (issue 15, requirement 4), in both modes of trio_ws's WebSocket."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from trio_ws import ClosedBy, WebSocket, WebSocketDisconnect
from trio_ws.testing import serve_app

from ._raw import close_code, connect, frame, port_of, upgrade_request


def _app(seen: list[Any], done: trio.Event, *, structured: bool) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        ws = WebSocket(scope, receive, send)
        try:
            if structured:
                async with ws:  # absorbs its own disconnect, after we saw it
                    await ws.accept()
                    try:
                        await ws.receive_text()
                    except WebSocketDisconnect as exc:
                        seen.append(exc.code)
                        raise
            else:
                await ws.accept()
                await ws.receive_text()
        except WebSocketDisconnect as exc:
            seen.append(exc.code)
        seen.append((ws.close_code, ws.closed_by))
        done.set()

    return app


@pytest.mark.parametrize("structured", [False, True])
async def test_a_message_over_the_limit_is_the_servers_close(structured: bool) -> None:
    """The client sends 2 KiB where 1 KiB is allowed: the engine closes 1009, and the
    application learns that the server closed, not the client."""
    seen: list[Any] = []
    done = trio.Event()
    with trio.fail_after(10):
        async with (
            serve_app(_app(seen, done, structured=structured), max_message_size=1024) as url,
            await connect(port_of(url), upgrade_request()) as client,
        ):
            await client.stream.send_all(frame(0x1, b"x" * 2048))
            frames = await client.frames_until_eof()
            await done.wait()
    assert close_code(frames) == 1009
    assert seen[-1] == (1009, ClosedBy.SERVER)
    assert seen[0] == 1009


@pytest.mark.parametrize("structured", [False, True])
async def test_the_clients_own_close_stays_the_clients(structured: bool) -> None:
    seen: list[Any] = []
    done = trio.Event()
    with trio.fail_after(10):
        async with (
            serve_app(_app(seen, done, structured=structured)) as url,
            await connect(port_of(url), upgrade_request()) as client,
        ):
            await client.stream.send_all(frame(0x8, (4001).to_bytes(2, "big") + b"bye"))
            await client.frames_until_eof()
            await done.wait()
    assert seen[-1] == (4001, ClosedBy.CLIENT)
    assert seen[0] == 4001

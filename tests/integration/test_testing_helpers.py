"""trio_ws.testing.serve_app and the trio_ws_server fixture."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
from trio_websocket import open_websocket_url

from trio_ws.testing import serve_app

from ._support import CLIENT, echo

if TYPE_CHECKING:
    from trio_ws._types import Receive, Scope, Send
    from trio_ws.testing.pytest_plugin import ServerStarter

pytestmark = pytest.mark.hypercorn


class AppBug(Exception):
    pass


async def buggy(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    await receive()
    raise AppBug("found it")


async def test_serve_app_yields_a_ws_url_on_loopback() -> None:
    """The URL is ws://127.0.0.1:PORT and serves the app."""
    with trio.fail_after(10):
        async with serve_app(echo) as url:
            assert url.startswith("ws://127.0.0.1:")
            async with open_websocket_url(url + "/x", **CLIENT) as ws:
                await ws.send_message("ok")
                assert await ws.get_message() == "ok"


async def test_serve_app_raises_the_app_exception_at_exit() -> None:
    """hypercorn only logs app errors; serve_app raises them when the block exits."""

    async def scenario() -> None:
        async with serve_app(buggy) as url, open_websocket_url(url, **CLIENT) as ws:
            await ws.send_message("trigger")
            with pytest.raises(trio_websocket_closed()):
                await ws.get_message()

    with trio.fail_after(10), pytest.raises(AppBug, match="found it"):
        await scenario()


async def test_serve_app_groups_several_app_exceptions() -> None:
    """Two app errors come out as one ExceptionGroup."""

    async def scenario() -> None:
        async with serve_app(buggy) as url:
            for _ in range(2):
                async with open_websocket_url(url, **CLIENT) as ws:
                    await ws.send_message("trigger")
                    with pytest.raises(trio_websocket_closed()):
                        await ws.get_message()

    with trio.fail_after(10), pytest.RaisesGroup(AppBug, AppBug):
        await scenario()


async def test_serve_app_attaches_app_errors_to_a_failing_block() -> None:
    """If the block fails too, its exception wins and carries a note about the app's."""

    async def scenario() -> None:
        async with serve_app(buggy) as url:
            async with open_websocket_url(url, **CLIENT) as ws:
                await ws.send_message("trigger")
                with pytest.raises(trio_websocket_closed()):
                    await ws.get_message()
            raise KeyError("test body failed")

    with trio.fail_after(10), pytest.raises(KeyError) as failed:
        await scenario()
    assert any("AppBug" in note for note in failed.value.__notes__)


async def test_fixture_serves_apps_and_shuts_them_down(trio_ws_server: ServerStarter) -> None:
    """``await trio_ws_server(app)`` returns a URL; several servers can run in one test."""
    with trio.fail_after(10):
        first = await trio_ws_server(echo)
        second = await trio_ws_server(echo, max_message_size=10)
        assert first != second
        async with open_websocket_url(first, **CLIENT) as ws:
            await ws.send_message("one")
            assert await ws.get_message() == "one"


def trio_websocket_closed() -> type[BaseException]:
    from trio_websocket import ConnectionClosed

    return ConnectionClosed

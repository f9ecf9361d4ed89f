"""Misuse gets one clear sentence, not a traceback from deep inside trio or the server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import trio

import trio_ws
from trio_ws import WebSocket
from trio_ws.testing import connect

SCOPE: dict[str, Any] = {"type": "websocket", "path": "/", "headers": [], "query_string": b""}


def test_a_connection_under_asyncio_says_to_use_the_trio_worker() -> None:
    """An app run by an asyncio server (hypercorn without --worker-class trio) is told so at
    the first call, for a WebSocket and for websocket_app alike."""

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("nothing must be sent")

    async def direct() -> None:
        WebSocket(SCOPE, receive, send)

    async def handler(ws: WebSocket) -> None:
        raise AssertionError("the handler must not run")

    for main in (direct(), trio_ws.websocket_app(handler)(dict(SCOPE), receive, send)):
        with pytest.raises(RuntimeError) as info:
            asyncio.run(main)
        assert str(info.value) == ("trio_ws runs on Trio; start hypercorn with --worker-class trio")


def test_a_websocket_for_its_request_views_needs_no_event_loop() -> None:
    """Without receive/send (a WebSocket read for its URL and headers) nothing is checked."""
    assert WebSocket(SCOPE).url.path == "/"


async def test_a_denial_response_that_is_not_an_asgi_app_is_named() -> None:
    """``send_denial_response("no")`` says what it takes instead of "'str' is not callable"."""
    errors: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        websocket = WebSocket(scope, receive, send)
        try:
            await websocket.send_denial_response("no")  # type: ignore[arg-type]
        except TypeError as exc:
            errors.append(exc)
        await websocket.accept()

    with trio.fail_after(5):
        async with connect(app) as client:
            await client.wait_app_finished()
    assert len(errors) == 1
    assert "send_denial_response() takes an ASGI response" in str(errors[0])
    assert "not str" in str(errors[0])

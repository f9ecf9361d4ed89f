"""Starlette's documented WebSocket examples run unchanged but for the import.

Each app is written once against a ``WebSocket`` class and run twice: with
``trio_ws.WebSocket`` and with ``starlette.websockets.WebSocket``. Both runs must produce the
same ASGI messages and the same client-side results, so compatibility is checked, not assumed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import starlette.responses
import starlette.websockets
import trio

import trio_ws
from trio_ws.testing import ConnectionRejected, connect

Classes = [trio_ws.WebSocket, starlette.websockets.WebSocket]
AppFactory = Callable[[Any], Callable[[Any, Any, Any], Awaitable[None]]]


def hello_world(WebSocket: Any) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        websocket = WebSocket(scope=scope, receive=receive, send=send)
        await websocket.accept()
        await websocket.send_text("Hello, world!")
        await websocket.close()

    return app


def iter_text_echo(WebSocket: Any) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        websocket = WebSocket(scope=scope, receive=receive, send=send)
        await websocket.accept()
        async for message in websocket.iter_text():
            await websocket.send_text(f"Message text was: {message}")
        await websocket.close()

    return app


def request_views(WebSocket: Any) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        websocket = WebSocket(scope=scope, receive=receive, send=send)
        await websocket.accept(subprotocol="chat", headers=[(b"x-extra", b"1")])
        await websocket.send_json(
            {
                "path": websocket["path"],
                "url": str(websocket.url),
                "url.path": websocket.url.path,
                "url.port": websocket.url.port,
                "url.scheme": websocket.url.scheme,
                "version": websocket.headers["sec-websocket-version"],
                "search": websocket.query_params["search"],
                "all": websocket.query_params.getlist("search"),
                "path_params": dict(websocket.path_params),
                "client": list(websocket.client),
                "cookies": websocket.cookies,
            }
        )
        await websocket.close(code=4100, reason="done")

    return app


def json_modes(WebSocket: Any) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        websocket = WebSocket(scope=scope, receive=receive, send=send)
        await websocket.accept()
        text = await websocket.receive_json()
        binary = await websocket.receive_json(mode="binary")
        await websocket.send_json({"text": text, "binary": binary})
        await websocket.send_json(["é"], mode="binary")
        raw = await websocket.receive_bytes()
        await websocket.send_bytes(raw[::-1])
        await websocket.close()

    return app


async def run_client(app: Any, script: str) -> dict[str, Any]:
    """Drive ``app`` through one of the scripts below and record what the client saw."""
    seen: dict[str, Any] = {}
    with trio.fail_after(5):
        async with connect(
            app,
            "/chat?search=a&search=b",
            headers={"cookie": "session=abc; theme=dark"},
            subprotocols=["chat"],
            spec_version="2.3",  # hypercorn's: a send after the client left is dropped
        ) as client:
            if script == "hello":
                seen["text"] = await client.receive_text()
            elif script == "echo":
                for word in ["one", "two"]:
                    await client.send_text(word)
                    seen.setdefault("echo", []).append(await client.receive_text())
                await client.close()
            elif script == "views":
                seen["json"] = await client.receive_json()
                seen["subprotocol"] = client.subprotocol
                seen["headers"] = client.response_headers
            elif script == "json":
                await client.send_json({"a": 1})
                await client.send_json({"b": [2]}, mode="binary")
                seen["json"] = await client.receive_json()
                seen["binary"] = await client.receive_json(mode="binary")
                await client.send_bytes(b"abc")
                seen["bytes"] = await client.receive_bytes()
            with trio.fail_after(2):
                await client.wait_app_finished()
            seen["close"] = (client.close_code, client.close_reason)
            seen["app_messages"] = [dict(m) for m in client.app_messages]
    return seen


SCRIPTS: list[tuple[AppFactory, str]] = [
    (hello_world, "hello"),
    (iter_text_echo, "echo"),
    (request_views, "views"),
    (json_modes, "json"),
]


@pytest.mark.parametrize(("factory", "script"), SCRIPTS, ids=[s for _, s in SCRIPTS])
async def test_documented_examples_behave_like_starlette(factory: AppFactory, script: str) -> None:
    """Each example gives the client the same results and the server the same messages."""
    ours = await run_client(factory(trio_ws.WebSocket), script)
    theirs = await run_client(factory(starlette.websockets.WebSocket), script)
    if script == "echo":
        # The one deliberate difference: after the client has left, Starlette still sends a
        # websocket.close (which the server drops, or answers with OSError under ASGI 2.4),
        # while trio_ws's close() knows the connection is over and sends nothing.
        assert theirs["app_messages"][-1]["type"] == "websocket.close"
        theirs["app_messages"].pop()
        assert ours["app_messages"][-1]["type"] == "websocket.send"
    assert ours == theirs
    assert ours["close"][0] is not None


async def test_hello_world_reaches_the_client() -> None:
    """The first documented example, checked on its own terms."""
    seen = await run_client(hello_world(trio_ws.WebSocket), "hello")
    assert seen["text"] == "Hello, world!"
    assert seen["close"] == (1000, "")


async def test_request_views_match_the_scope() -> None:
    """url, headers, query_params, path_params, client and cookies read the scope."""
    seen = await run_client(request_views(trio_ws.WebSocket), "views")
    assert seen["json"] == {
        "path": "/chat",
        "url": "ws://testserver/chat?search=a&search=b",
        "url.path": "/chat",
        "url.port": None,
        "url.scheme": "ws",
        "version": "13",
        "search": "b",
        "all": ["a", "b"],
        "path_params": {},
        "client": ["testclient", 50000],
        "cookies": {"session": "abc", "theme": "dark"},
    }
    assert seen["subprotocol"] == "chat"
    assert (b"x-extra", b"1") in seen["headers"]
    assert seen["close"] == (4100, "done")


@pytest.mark.parametrize("WebSocket", Classes)
async def test_close_before_accept_is_a_403(WebSocket: Any) -> None:
    """Closing before accepting makes the server answer HTTP 403, as the docs say."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        websocket = WebSocket(scope=scope, receive=receive, send=send)
        await websocket.close()

    with trio.fail_after(5), pytest.raises(ConnectionRejected) as info:
        async with connect(app):
            pass  # pragma: no cover - never reached
    assert info.value.status_code == 403


@pytest.mark.parametrize(
    "response_class", [trio_ws.PlainTextResponse, starlette.responses.PlainTextResponse]
)
async def test_denial_response_sends_status_and_body(response_class: Any) -> None:
    """send_denial_response accepts trio_ws's and Starlette's response classes."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        websocket = trio_ws.WebSocket(scope=scope, receive=receive, send=send)
        await websocket.send_denial_response(response_class("no entry", status_code=418))

    with trio.fail_after(5), pytest.raises(ConnectionRejected) as info:
        async with connect(app):
            pass  # pragma: no cover
    assert info.value.status_code == 418
    assert info.value.body == b"no entry"
    assert (b"content-type", b"text/plain; charset=utf-8") in info.value.headers


async def test_denial_without_the_extension_is_a_runtime_error() -> None:
    """Without the server extension send_denial_response raises RuntimeError, like Starlette."""
    errors: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        websocket = trio_ws.WebSocket(scope=scope, receive=receive, send=send)
        try:
            await websocket.send_denial_response(trio_ws.Response(b"", status_code=401))
        except RuntimeError as exc:
            errors.append(exc)
        await websocket.close()

    with trio.fail_after(5), pytest.raises(ConnectionRejected):
        async with connect(app, denial_extension=False):
            pass  # pragma: no cover
    assert len(errors) == 1
    assert "Denial Response extension" in str(errors[0])


def test_websocket_is_a_mapping_over_the_scope() -> None:
    """websocket["path"] and friends read the ASGI scope; equality is identity."""
    scope = {"type": "websocket", "path": "/x", "headers": [], "query_string": b""}
    websocket = trio_ws.WebSocket(scope)
    assert websocket["path"] == "/x"
    assert dict(websocket) == scope
    assert len(websocket) == len(scope)
    assert websocket != trio_ws.WebSocket(scope)
    assert websocket == websocket
    assert websocket.path_params == {}


def test_only_websocket_scopes_are_accepted() -> None:
    """An http scope is refused with a clear ValueError (Starlette asserts)."""
    with pytest.raises(ValueError, match="not a websocket scope"):
        trio_ws.WebSocket({"type": "http"})


async def test_a_websocket_without_callables_says_so() -> None:
    """Using a WebSocket built without receive/send raises a clear RuntimeError."""
    websocket = trio_ws.WebSocket({"type": "websocket"})
    with pytest.raises(RuntimeError, match="without a receive callable"):
        await websocket.receive()

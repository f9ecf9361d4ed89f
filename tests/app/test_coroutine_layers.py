"""How deep the handler runs below ``WebSocketApp.__call__``.

Every coroutine layer between the server's call and the handler is resumed twice per message
(when the receive wakes, and after the send's schedule point), so the layers are part of the
per-message cost: `run_connection` prepares in plain code and hands back one coroutine, which
awaits the handler itself.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import trio

from trio_ws import WebSocket, WebSocketEndpoint, websocket_app
from trio_ws.testing import connect

if TYPE_CHECKING:
    from types import FrameType


def awaited_chain() -> list[str]:
    """The qualified names of the frames running the caller, outermost first (a running
    coroutine's frame links back to the coroutine that resumed it)."""
    names: list[str] = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        names.append(frame.f_code.co_qualname)
        frame = frame.f_back
    return names[::-1]


def layers_between(chain: list[str], outer: str, inner: str) -> list[str]:
    assert outer in chain, " > ".join(chain)
    start = chain.index(outer)
    return chain[start + 1 : chain.index(inner, start)]


async def test_one_coroutine_layer_between_the_app_and_the_handler() -> None:
    chains: list[list[str]] = []

    async def handler(ws: WebSocket) -> None:
        chains.append(awaited_chain())
        await ws.accept()
        await ws.send_text(await ws.receive_text())

    with trio.fail_after(5):
        async with connect(websocket_app(handler)) as client:
            await client.send_text("x")
            assert await client.receive_text() == "x"
    (chain,) = chains
    between = layers_between(chain, "WebSocketApp.__call__", handler.__qualname__)
    assert between == ["_serve_connection"], chain


async def test_limits_and_guards_keep_the_single_layer() -> None:
    """With an accept timeout and an idle timeout (the handler's own cancel scope and the
    timeout watcher) the handler is still awaited by the one connection coroutine."""
    chains: list[list[str]] = []

    async def handler(ws: WebSocket) -> None:
        chains.append(awaited_chain())
        await ws.accept()

    app = websocket_app(handler, accept_timeout=5, idle_timeout=5, subprotocols=["chat", None])
    with trio.fail_after(5):
        async with connect(app) as client:
            await client.wait_disconnected()
    (chain,) = chains
    assert layers_between(chain, "WebSocketApp.__call__", handler.__qualname__) == [
        "_serve_connection"
    ], chain


async def test_endpoint_runs_its_hooks_through_the_same_coroutine() -> None:
    chains: list[list[str]] = []

    class Echo(WebSocketEndpoint):
        encoding = "text"

        async def on_receive(self, ws: WebSocket, data: str) -> None:
            chains.append(awaited_chain())
            await ws.send_text(data)

    with trio.fail_after(5):
        async with connect(Echo) as client:
            await client.send_text("x")
            assert await client.receive_text() == "x"
    (chain,) = chains
    assert "_serve_connection" in chain
    assert "run_connection" not in chain


def recording(receive: Any, chains: dict[str, list[str]]) -> Any:
    """The server's ``receive``, noting the frames that awaited it for each text message."""

    async def server_receive() -> Any:
        message = await receive()
        if message["type"] == "websocket.receive" and message.get("text"):
            chains[message["text"]] = awaited_chain()
        return message

    return server_receive


async def echo_each_way(ws: WebSocket) -> None:
    """Answer "text", "message", "json" and "raw" through the receive of that name."""
    await ws.send_text(await ws.receive_text())
    await ws.send_text(str(await ws.receive_message()))
    await ws.send_text(await ws.receive_json())
    await ws.send_text((await ws.receive())["text"])


async def exchange_each_way(app: Any) -> None:
    with trio.fail_after(5):
        async with connect(app) as client:
            for text in ("text", "message", '"json"', "raw"):
                await client.send_text(text)
                assert await client.receive_text() == text.strip('"')


async def test_a_direct_receive_awaits_the_server_with_no_coroutine_between() -> None:
    """In direct mode ``receive_text``, ``receive_message``, ``receive_json`` and ``receive``
    await the server's ``receive`` themselves: a coroutine between them would be resumed
    again every time a message arrives."""
    chains: dict[str, list[str]] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, recording(receive, chains), send)
        await ws.accept()
        await echo_each_way(ws)

    await exchange_each_way(app)
    assert set(chains) == {"text", "message", '"json"', "raw"}
    for text, method in [
        ("text", "receive_text"),
        ("message", "receive_message"),
        ('"json"', "receive_json"),
        ("raw", "receive"),
    ]:
        chain = chains[text]
        assert layers_between(chain, "echo_each_way", "recording.<locals>.server_receive") == [
            f"WebSocket.{method}"
        ], chain


async def test_a_structured_receive_adds_only_the_structured_layer() -> None:
    chains: dict[str, list[str]] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async with WebSocket(scope, recording(receive, chains), send) as ws:
            await ws.accept()
            await echo_each_way(ws)

    await exchange_each_way(app)
    chain = chains["text"]
    assert layers_between(chain, "echo_each_way", "recording.<locals>.server_receive") == [
        "WebSocket.receive_text",
        "Structured.receive",
    ], chain

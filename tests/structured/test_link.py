"""The link layer under both modes: one send turn, OSError as a disconnect, the bounded close,
and the import direction (connection layer → link layer, never back)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from trio_ws import WebSocketDisconnect
from trio_ws._link import Link
from trio_ws._protocol import Exchange

SCOPE: dict[str, Any] = {"type": "websocket", "path": "/", "headers": []}
PACKAGE = Path(__file__).parents[2] / "trio_ws"


def accepted_exchange(**extensions: Any) -> Exchange:
    exchange = Exchange({**SCOPE, "extensions": extensions})
    exchange.incoming({"type": "websocket.connect"})
    exchange.outgoing({"type": "websocket.accept"})
    return exchange


async def never_receive() -> dict[str, Any]:
    raise AssertionError("not called")  # pragma: no cover


async def test_senders_go_out_whole_in_the_order_they_asked() -> None:
    """Three tasks send at once over a slow server: one at a time, first come first served."""
    sent: list[str] = []
    inside = 0

    async def slow_send(message: dict[str, Any]) -> None:
        nonlocal inside
        inside += 1
        assert inside == 1
        await trio.sleep(0.01)
        sent.append(message["text"])
        inside -= 1

    link = Link(accepted_exchange(), never_receive, slow_send, close_timeout=1)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            for text in ("a", "b", "c"):
                nursery.start_soon(link.send_in_turn, {"type": "websocket.send", "text": text})
                await trio.testing.wait_all_tasks_blocked()
    assert sent == ["a", "b", "c"]


async def test_prepare_sees_whether_the_caller_waited_and_may_skip() -> None:
    """``prepare`` runs with the turn held; ``None`` sends nothing."""
    seen: list[bool] = []
    sent: list[Any] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        await trio.sleep(0.01)

    def prepare(message: dict[str, Any], waited: bool) -> dict[str, Any] | None:
        seen.append(waited)
        return None if waited else message

    link = Link(accepted_exchange(), never_receive, send, close_timeout=1)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(link.send_in_turn, {"type": "websocket.send", "text": "1"}, prepare)
            await trio.testing.wait_all_tasks_blocked()
            assert not await link.send_in_turn({"type": "websocket.send", "text": "2"}, prepare)
    assert seen == [False, True]
    assert [m["text"] for m in sent] == ["1"]


async def test_an_oserror_from_the_server_is_a_1006_disconnect() -> None:
    """ASGI 2.4: the server's send raising OSError means the peer is gone."""

    async def broken(message: dict[str, Any]) -> None:
        raise ConnectionResetError

    exchange = accepted_exchange()
    link = Link(exchange, never_receive, broken, close_timeout=1)
    with pytest.raises(WebSocketDisconnect) as info:
        await link.send_in_turn({"type": "websocket.send", "text": "x"})
    assert info.value.code == 1006
    assert exchange.peer_gone


async def test_the_close_is_bounded_when_a_send_is_stuck() -> None:
    """A close behind a send that never finishes gives up after close_timeout, even when the
    caller is being cancelled."""

    async def stuck(message: dict[str, Any]) -> None:
        await trio.sleep_forever()

    # A server that promises cancel-safe sends: the stuck send is not shielded, so the test
    # can end it; the close must still give up on its own.
    exchange = accepted_exchange(**{"trio_ws.cancel_safe_send": {}})
    link = Link(exchange, never_receive, stuck, close_timeout=0.05)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(link.send_in_turn, {"type": "websocket.send", "text": "x"})
            await trio.testing.wait_all_tasks_blocked()
            with trio.CancelScope() as scope:
                scope.cancel()
                sent = await link.close(1000, "")
            nursery.cancel_scope.cancel()
    assert sent is False


def imported_modules(path: Path) -> set[str]:
    """Every trio_ws module ``path`` imports, at run time or for type checking."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("_link.py", {"_websocket", "_structured"}),
        ("_structured.py", {"_websocket"}),
        ("_protocol.py", {"_structured", "_link"}),
        ("_server_exchange.py", {"_websocket", "_structured", "_link", "_engine", "testing"}),
    ],
)
def test_imports_point_down(module: str, forbidden: set[str]) -> None:
    """The link layer knows neither mode; structured mode never reaches into WebSocket."""
    assert not imported_modules(PACKAGE / module) & forbidden


async def test_a_close_checks_its_code_and_reason_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """``close()`` validates before waiting for anything, and the exchange does not repeat it."""
    import trio_ws._protocol
    import trio_ws._websocket
    from trio_ws import WebSocket
    from trio_ws.testing import connect

    calls: list[object] = []
    real = trio_ws._protocol.validate_close

    def counting(code: object, reason: object) -> str:
        calls.append(code)
        return real(code, reason)

    monkeypatch.setattr(trio_ws._protocol, "validate_close", counting)
    monkeypatch.setattr(trio_ws._websocket, "validate_close", counting)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        await ws.close(4000, "done")

    with trio.fail_after(5):
        async with connect(app) as client:
            await client.wait_app_finished()
            assert client.close_code == 4000
    # Once by the application side (close() checks before it waits), once by the server it
    # talks to (the in-memory server's ServerExchange checks what it is sent).
    assert calls == [4000, 4000]


def test_only_the_protocol_module_spells_asgi_websocket_messages() -> None:
    """Both modes and the link build and read ASGI messages through the Exchange only."""
    for module in ("_websocket.py", "_structured.py", "_link.py", "_reader.py", "_adopt.py"):
        source = (PACKAGE / module).read_text()
        strings = [
            node.value
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        ]
        assert not [s for s in strings if s.startswith("websocket.")], module

"""Requirement 8: ``trio_ws.testing.connect`` (in memory) and ``trio_ws.connect`` offer the same
methods and raise the same errors, so one piece of client code runs against both."""

from __future__ import annotations

import contextlib
import inspect
from typing import TYPE_CHECKING, Any

import pytest
import trio

import trio_ws
import trio_ws.testing
from trio_ws.testing import serve_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

#: Structured-mode parts the in-memory client does not have (documented in docs/client.md).
STRUCTURED_ONLY = {"nursery", "wait_disconnected", "cancel_on_disconnect", "statistics"}
#: What only the in-memory client has: it is a test tool.
TEST_ONLY = {
    "app_messages", "app_exception", "app_finished", "wait_app_finished", "drop", "receive",
    "scope",
}  # fmt: skip


def _public(cls: type) -> dict[str, Any]:
    return {name: member for name, member in vars(cls).items() if not name.startswith("_")}


def test_the_public_surfaces_match() -> None:
    real = _public(trio_ws.ClientWebSocket)
    memory = _public(trio_ws.testing.WebSocketTestClient)
    slots = set(trio_ws.ClientWebSocket.__slots__)  # plain attributes (url, subprotocol...)
    memory_names = set(memory) | {"subprotocol", "response_headers"}
    assert set(real) - STRUCTURED_ONLY - memory_names == set()
    assert memory_names - set(real) - slots - TEST_ONLY == set()
    for name in set(real) & set(memory):
        if callable(real[name]) and callable(memory[name]):
            assert list(inspect.signature(real[name]).parameters) == list(
                inspect.signature(memory[name]).parameters
            ), name
            assert inspect.iscoroutinefunction(real[name]) == inspect.iscoroutinefunction(
                memory[name]
            ), name


def test_the_errors_are_the_same_classes() -> None:
    assert issubclass(trio_ws.testing.ConnectionClosed, trio_ws.WebSocketDisconnect)
    assert issubclass(trio_ws.testing.ConnectionRejected, trio_ws.HandshakeRejected)


# ---------------------------------------------------------------------- one app, one client


@trio_ws.websocket_app
async def app(ws: trio_ws.WebSocket) -> None:
    if ws.query_params.get("token") != "ok":
        await ws.send_denial_response(trio_ws.Response(b"who are you?", 401))
        return
    await ws.accept(subprotocol="v1")
    async for message in ws.iter_json():
        if message == "stop":
            await ws.close(4000, "stopped by the server")
            return
        await ws.send_json({"echo": message})


async def client_code(ws: Any) -> dict[str, Any]:
    """Client code written once, for trio_ws.connect's websocket."""
    assert ws.subprotocol == "v1"
    answers = []
    await ws.send_json(1)
    answers.append(await ws.receive_json())
    await ws.send_text('"two"')
    answers.append(await ws.receive_message())

    async def sender() -> None:
        await ws.send_json(3)
        await ws.send_json("stop")

    ws.start_soon(sender)
    async for answer in ws.iter_json():
        answers.append(answer)
    try:
        await ws.send_json("after the end")
    except trio_ws.WebSocketDisconnect as exc:
        answers.append(("disconnect", exc.code, exc.reason))
    return {"answers": answers}


@contextlib.asynccontextmanager
async def opened(where: str, query: str) -> AsyncIterator[Any]:
    if where == "memory":
        async with trio_ws.testing.connect(app, "/ws" + query, subprotocols=["v1"]) as ws:
            yield ws
    else:
        async with (
            serve_app(app) as url,
            trio_ws.connect(url + "/ws" + query, subprotocols=["v1"]) as ws,
        ):
            yield ws


@pytest.mark.parametrize("where", ["memory", "socket"])
async def test_the_same_client_code_runs_against_both(where: str) -> None:
    with trio.fail_after(10):
        async with opened(where, "?token=ok") as ws:
            outcome = await client_code(ws)
    assert outcome["answers"] == [
        {"echo": 1},
        '{"echo":"two"}',
        {"echo": 3},
        ("disconnect", 4000, "stopped by the server"),
    ]
    assert (ws.close_code, ws.close_reason) == (4000, "stopped by the server")
    assert ws.closed_by is trio_ws.ClientClosedBy.SERVER


async def _raise(exc: Exception) -> None:
    raise exc


@pytest.mark.parametrize("where", ["memory", "socket"])
async def test_the_same_close_rules_and_refusals(where: str) -> None:
    with trio.fail_after(10):
        async with opened(where, "?token=ok") as ws:
            await _raise(trio_ws.WebSocketException(4001, "client done"))
        assert (ws.close_code, ws.closed_by) == (4001, trio_ws.ClientClosedBy.CLIENT)
        async with opened(where, "?token=ok") as ws:
            await ws.send_json("ok")
        assert (ws.close_code, ws.closed_by) == (1000, trio_ws.ClientClosedBy.CLIENT)
        with pytest.raises(KeyError, match="bug"):
            async with opened(where, "?token=ok") as ws:
                raise KeyError("bug")
        assert (ws.close_code, ws.closed_by) == (1011, trio_ws.ClientClosedBy.ERROR)
        with pytest.raises(trio_ws.HandshakeRejected) as rejected:
            async with opened(where, "?token=no"):
                pass
        assert (rejected.value.status_code, rejected.value.body) == (401, b"who are you?")


def test_every_public_coroutine_of_the_client_documents_raises_and_cancellation() -> None:
    missing = [
        name
        for name, member in _public(trio_ws.ClientWebSocket).items()
        if inspect.iscoroutinefunction(member)
        and not {"Raises:", "Cancellation:"} <= set((inspect.getdoc(member) or "").split())
    ]
    assert missing == []

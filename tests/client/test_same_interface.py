"""Requirement 8: ``trio_ws.testing.connect`` (in memory) and ``trio_ws.connect`` offer the same
methods and raise the same errors, so one piece of client code runs against both."""

from __future__ import annotations

import contextlib
import inspect
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

import trio_ws
import trio_ws.testing
from trio_ws.testing import serve_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

#: What only the in-memory client has: it is a test tool.
TEST_ONLY = {
    "app_messages", "app_exception", "app_finished", "wait_app_finished", "drop", "receive",
    "scope",
}  # fmt: skip
#: Options of trio_ws.testing.connect that only make sense in memory (the rest are
#: trio_ws.connect's, with the same defaults).
MEMORY_ONLY_OPTIONS = {
    "app", "path", "scheme", "client", "server", "root_path", "spec_version",
    "denial_extension", "cancel_safe_send", "queue_size", "raise_app_exceptions",
}  # fmt: skip


def _public(cls: type) -> dict[str, Any]:
    return {name: member for name, member in vars(cls).items() if not name.startswith("_")}


def test_the_public_surfaces_match() -> None:
    """Every method and attribute of one exists on the other (bar the test tools), with the
    same parameters, and coroutines on one are coroutines on the other."""
    real = _public(trio_ws.ClientWebSocket)
    memory = _public(trio_ws.testing.WebSocketTestClient)
    real_names = set(real) | set(trio_ws.ClientWebSocket.__slots__)  # + url, subprotocol...
    memory_names = set(memory) | {"subprotocol", "response_headers"}  # set in __init__
    assert real_names - {"_connection", "_ws"} - memory_names == set()
    assert memory_names - real_names - TEST_ONLY == set()
    for name in set(real) & set(memory):
        assert inspect.isdatadescriptor(real[name]) == inspect.isdatadescriptor(memory[name]), name
        if callable(real[name]) and callable(memory[name]):
            assert list(inspect.signature(real[name]).parameters) == list(
                inspect.signature(memory[name]).parameters
            ), name
            assert inspect.iscoroutinefunction(real[name]) == inspect.iscoroutinefunction(
                memory[name]
            ), name


def test_the_options_match() -> None:
    """trio_ws.testing.connect takes every option of trio_ws.connect, with its default."""
    real = inspect.signature(trio_ws.connect).parameters
    memory = inspect.signature(trio_ws.testing.connect).parameters
    real_options = {name: p.default for name, p in real.items() if name != "url"}
    shared = {name: p.default for name, p in memory.items() if name not in MEMORY_ONLY_OPTIONS}
    assert set(real_options) == set(shared)
    different = {
        name: (real_options[name], shared[name])
        for name in real_options
        if real_options[name] != shared[name]
    }
    # The in-memory close waits for the app, not for a network: its own shorter default.
    assert different == {"close_timeout": (5.0, 2.0)}


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

    stats = ws.statistics()
    assert isinstance(stats, trio_ws.WebSocketStatistics)
    assert (stats.inbound_capacity, stats.dropped, stats.pump_running) == (16, 0, True)
    ended: list[str] = []

    async def watcher() -> None:
        await ws.wait_disconnected()
        ended.append("wait_disconnected")

    ws.nursery.start_soon(watcher)
    ws.start_soon(sender)
    async for answer in ws.iter_json():
        answers.append(answer)
    with ws.cancel_on_disconnect() as scope:
        await trio.sleep_forever()  # cancelled at once: the server has closed
    assert scope.cancelled_caught
    await trio.testing.wait_all_tasks_blocked()
    assert ended == ["wait_disconnected"]
    assert not ws.statistics().pump_running
    try:
        await ws.send_json("after the end")
    except trio_ws.WebSocketDisconnect as exc:
        answers.append(("disconnect", exc.code, exc.reason))
    return {"answers": answers}


@contextlib.asynccontextmanager
async def opened(where: str, query: str, target: Any = app, **options: Any) -> AsyncIterator[Any]:
    if where == "memory":
        async with trio_ws.testing.connect(
            target, "/ws" + query, subprotocols=["v1"], **options
        ) as ws:
            yield ws
    else:
        async with (
            serve_app(target) as url,
            trio_ws.connect(url + "/ws" + query, subprotocols=["v1"], **options) as ws,
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


# ------------------------------------------------- the structured members and the options


@trio_ws.websocket_app
async def commands(ws: trio_ws.WebSocket) -> None:
    """Accepts after ``?delay=`` seconds; answers "big" with 2,000 bytes of text, closes with
    4000 on "stop", echoes anything else."""
    await trio.sleep(float(ws.query_params.get("delay", "0")))
    await ws.accept(subprotocol="v1")
    async for command in ws.iter_text():
        if command == "stop":
            await ws.close(4000, "stopped")
            return
        await ws.send_text("é" * 1000 if command == "big" else command)


@pytest.mark.parametrize("where", ["memory", "socket"])
async def test_disconnect_watchers_see_the_server_close(where: str) -> None:
    with trio.fail_after(10):
        async with opened(where, "", commands) as ws:
            with ws.cancel_on_disconnect() as scope:
                await ws.send_text("stop")
                await trio.sleep_forever()
            assert scope.cancelled_caught
            await ws.wait_disconnected()  # returns at once: it has ended
    assert (ws.close_code, ws.closed_by) == (4000, trio_ws.ClientClosedBy.SERVER)


async def _refuse(code: int) -> None:
    raise trio_ws.WebSocketException(code, "refused by a task")


async def _fail() -> None:
    raise KeyError("task bug")


@pytest.mark.parametrize("where", ["memory", "socket"])
async def test_tasks_of_the_nursery_follow_the_close_rules(where: str) -> None:
    with trio.fail_after(10):
        async with opened(where, "", commands) as ws:
            ws.nursery.start_soon(_refuse, 4001)
            await ws.wait_disconnected()
        assert (ws.close_code, ws.close_reason) == (4001, "refused by a task")
        assert ws.closed_by is trio_ws.ClientClosedBy.CLIENT
        failed: list[Any] = []
        with pytest.raises(KeyError, match="task bug"):
            await _with_a_failing_task(where, failed)
        (ws,) = failed
        assert (ws.close_code, ws.closed_by) == (1011, trio_ws.ClientClosedBy.ERROR)
    with pytest.raises(RuntimeError):
        ws.start_soon(_fail)  # the block has ended


async def _with_a_failing_task(where: str, opened_ws: list[Any]) -> None:
    async with opened(where, "", commands) as ws:
        opened_ws.append(ws)
        ws.nursery.start_soon(_fail)
        await ws.wait_disconnected()


@pytest.mark.parametrize("where", ["memory", "socket"])
async def test_a_message_over_max_message_size_closes_with_1009(where: str) -> None:
    with trio.fail_after(10):
        async with opened(where, "", commands, max_message_size=1999) as ws:
            await ws.send_text("small")
            assert await ws.receive_text() == "small"
            await ws.send_text("big")  # 2,000 bytes in UTF-8
            with pytest.raises(trio_ws.WebSocketDisconnect) as too_big:
                await ws.receive_text()
    assert too_big.value.code == ws.close_code == 1009
    # trio_ws.connect reports a connection its protocol failed as ended by the other side.
    assert ws.closed_by is trio_ws.ClientClosedBy.SERVER


@pytest.mark.parametrize("where", ["memory", "socket"])
async def test_open_timeout_bounds_the_handshake(where: str) -> None:
    with trio.fail_after(10), pytest.raises(trio_ws.OpenTimeout):
        async with opened(where, "?delay=5", commands, open_timeout=0.2):
            pytest.fail("opened")  # pragma: no cover


@pytest.mark.parametrize("where", ["memory", "socket"])
async def test_latency_comes_with_the_first_ping_interval(where: str) -> None:
    with trio.fail_after(10):
        async with opened(where, "", commands, ping_interval=0.05) as ws:
            assert ws.latency is None
            assert ws.keepalive_timed_out is False
            await trio.sleep(0.4)  # the time under test: eight ping intervals
            assert ws.latency is not None
            assert ws.latency >= 0.0
            assert ws.keepalive_timed_out is False
        async with opened(where, "", commands, ping_interval=None) as ws:
            await trio.sleep(0.1)
            assert ws.latency is None


@pytest.mark.parametrize("where", ["memory", "socket"])
async def test_statistics_report_the_configured_capacities(where: str) -> None:
    options = trio_ws.ConnectionOptions(inbound_buffer=4, outbound_buffer=2)
    with trio.fail_after(10):
        async with opened(where, "", commands, options=options) as ws:
            stats = ws.statistics()
            assert (stats.inbound_capacity, stats.outbound_capacity) == (4, 2)
            assert stats.pump_running


@pytest.mark.parametrize(
    "option", [{"ping_interval": -1}, {"compression": "brotli"}, {"max_message_size": 0}]
)
def test_both_refuse_the_same_bad_options(option: dict[str, Any]) -> None:
    (name,) = option
    with pytest.raises(ValueError, match=name) as real:
        trio_ws.connect("ws://127.0.0.1:1/", **option)
    with pytest.raises(ValueError, match=name) as memory:
        trio.run(_enter_in_memory, option)
    assert str(memory.value) == str(real.value)


async def _enter_in_memory(option: dict[str, Any]) -> None:
    async with trio_ws.testing.connect(commands, **option):
        pytest.fail("opened")  # pragma: no cover

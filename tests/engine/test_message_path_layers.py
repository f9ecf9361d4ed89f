"""How many coroutine layers the engine puts between an ASGI application and Trio.

Every coroutine between the application's ``await receive()``/``await send(...)`` and Trio's
own functions is made per message and resumed at each schedule point, so the layers are part
of the per-message cost: a send that the socket takes whole is ``EngineConnection.send``
alone above Trio's checkpoint, and a receive that finds its bytes in the socket reads them
from ``EngineConnection.receive`` itself, without the transport's waiting ``receive``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest
import trio

from trio_ws._engine._transport import SocketTransport
from trio_ws.testing import serve_app

from ._raw import connect, frame, port_of, upgrade_request

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from trio_ws._types import Receive, Scope, Send


def awaited_chain(coro: Any) -> list[str]:
    """The qualified names of the coroutines a suspended coroutine is awaiting, outermost
    first, down to the first of Trio's own (named ``"trio"``)."""
    names = []
    while coro is not None:
        code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
        if code is None:
            break
        if f"{os.sep}trio{os.sep}" in code.co_filename:
            names.append("trio")
            break
        names.append(code.co_qualname)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return names


class Suspensions(trio.abc.Instrument):
    """Records, after each step of the watched task, where its coroutine chain is suspended."""

    def __init__(self) -> None:
        self.task: trio.lowlevel.Task | None = None
        self.chains: list[list[str]] = []

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            self.chains.append(awaited_chain(task.coro))


@pytest.fixture
async def suspensions() -> AsyncIterator[Suspensions]:
    instrument = Suspensions()
    trio.lowlevel.add_instrument(instrument)
    try:
        yield instrument
    finally:
        trio.lowlevel.remove_instrument(instrument)


def below(chain: list[str], app: str) -> list[str]:
    """The layers between the application's frame and Trio's."""
    return chain[chain.index(app) + 1 : -1]


async def test_a_send_the_socket_takes_is_one_layer_above_trio(
    suspensions: Suspensions,
) -> None:
    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        suspensions.task = trio.lowlevel.current_task()  # the messages from here on
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"]})

    with trio.fail_after(10):
        async with serve_app(echo) as url:
            client = await connect(port_of(url), upgrade_request())
            async with client:
                for index in range(10):
                    await client.stream.send_all(frame(0x1, f"m{index}".encode()))
                    assert (await client.next_frame()).data == f"m{index}".encode()
    in_send = [
        below(chain, echo.__qualname__)
        for chain in suspensions.chains
        if "EngineConnection.send" in chain
    ]
    assert len(in_send) >= 10, suspensions.chains  # each echo's write is a schedule point
    assert all(layers == ["EngineConnection.send"] for layers in in_send), in_send


async def test_a_receive_that_finds_its_bytes_reads_them_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waiting_reads = 0
    waiting_receive = SocketTransport.receive

    def counted(self: SocketTransport, *args: Any, **kwargs: Any) -> Any:
        nonlocal waiting_reads
        waiting_reads += 1
        return waiting_receive(self, *args, **kwargs)

    monkeypatch.setattr(SocketTransport, "receive", counted)
    first_received = trio.Event()
    second_sent = trio.Event()
    received: list[str] = []
    reads_for_second: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        received.append((await receive())["text"])
        first_received.set()
        await second_sent.wait()  # its bytes are in the socket now
        before = waiting_reads
        received.append((await receive())["text"])
        reads_for_second.append(waiting_reads - before)
        await send({"type": "websocket.close", "code": 1000})

    with trio.fail_after(10):
        async with serve_app(app) as url:
            client = await connect(port_of(url), upgrade_request())
            async with client:
                await client.stream.send_all(frame(0x1, b"first"))
                await first_received.wait()
                await client.stream.send_all(frame(0x1, b"second"))
                second_sent.set()
                assert (await client.next_frame()).opcode.name == "CLOSE"
    assert received == ["first", "second"]
    assert reads_for_second == [0]

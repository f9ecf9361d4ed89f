"""The first request head: read at once when it is already in the socket, else waited for
(within the keep-alive timeout) however it is split; a client that leaves first costs
nothing and the server carries on."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from trio_ws.testing import serve_app

from ._raw import frame, port_of, read_head, upgrade_request

if TYPE_CHECKING:
    from trio_ws._types import Receive, Scope, Send


async def _echo_once(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    message = await receive()
    await send({"type": "websocket.send", "text": message["text"]})
    await receive()


async def _served(port: int, pieces: list[bytes]) -> bytes:
    """Send the upgrade request in ``pieces`` (the server reads what is there before each
    next piece), then one text frame; return the 101's head and the echoed frame's bytes."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        for piece in pieces:
            await stream.send_all(piece)
            await trio.testing.wait_all_tasks_blocked()  # the server has read it and waits
        head, rest = await read_head(stream)
        await stream.send_all(frame(0x1, b"hi"))
        while len(rest) < 4:
            rest += await stream.receive_some(64)
        return head + b"|" + rest


@pytest.mark.parametrize("cuts", [[], [5], [30, 31, 60]], ids=["whole", "two", "four"])
async def test_a_head_in_pieces_is_served(cuts: list[int]) -> None:
    request = upgrade_request()
    bounds = [0, *cuts, len(request)]
    pieces = [request[a:b] for a, b in itertools.pairwise(bounds)]
    with trio.fail_after(10):
        async with serve_app(_echo_once) as url:
            answer = await _served(port_of(url), pieces)
    assert answer.startswith(b"HTTP/1.1 101")
    assert answer.endswith(b"|\x81\x02hi")


async def test_a_client_that_leaves_before_its_head_costs_nothing() -> None:
    with trio.fail_after(10):
        async with serve_app(_echo_once) as url:
            port = port_of(url)
            quiet = await trio.open_tcp_stream("127.0.0.1", port)
            await quiet.aclose()  # EOF before a single byte
            half = await trio.open_tcp_stream("127.0.0.1", port)
            await half.send_all(upgrade_request()[:10])
            await trio.testing.wait_all_tasks_blocked()
            await half.aclose()  # EOF in the middle of the head
            answer = await _served(port, [upgrade_request()])
    assert answer.startswith(b"HTTP/1.1 101")

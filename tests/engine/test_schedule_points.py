"""The engine's socket transport and Trio's schedule points.

A round trip (a read, then a write) yields to the scheduler once: every write and every call
that waits is a schedule point; a read that finds its bytes already there skips its own when
the call before it had one, so at least every other call yields and a task that only reads
cannot starve the others. Cancellation is checked on entry to every read all the same.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, TypeAlias

import pytest
import trio
import trio.testing

from trio_ws._engine._transport import SocketTransport

if TYPE_CHECKING:
    from collections.abc import Awaitable, Iterator


async def _yielded(call: Awaitable[object]) -> bool:
    """Whether awaiting ``call`` passed a schedule point (Trio's own per-task count, the one
    ``trio.testing.assert_checkpoints`` reads)."""
    task = trio.lowlevel.current_task()
    before = task._schedule_points
    await call
    return task._schedule_points > before


Pair: TypeAlias = tuple[SocketTransport, socket.socket]


@pytest.fixture
def pair() -> Iterator[Pair]:
    """The engine's transport over one end of a socket pair (as the engine sets it up), and
    the other end."""
    ours, theirs = socket.socketpair()
    transport = SocketTransport(trio.SocketStream(trio.socket.from_stdlib_socket(ours)))
    transport.alternate_schedule_points = True
    with ours, theirs:
        yield transport, theirs


async def test_a_read_after_a_write_skips_its_schedule_point(pair: Pair) -> None:
    with trio.fail_after(5):
        transport, peer = pair
        for _ in range(5):
            peer.send(b"ping")  # the answer is there before the read
            assert await _yielded(transport.write(b"pong"))
            assert not await _yielded(transport.receive())


async def test_reads_alone_yield_at_least_every_other_time(pair: Pair) -> None:
    with trio.fail_after(5):
        transport, peer = pair
        yields = []
        for _ in range(10):
            peer.send(b"x")
            yields.append(await _yielded(transport.receive()))
        assert yields == [True, False] * 5


async def test_every_write_yields_and_a_wait_counts_as_the_schedule_point(pair: Pair) -> None:
    with trio.fail_after(5):
        transport, peer = pair
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_send_later, peer)
            assert await _yielded(transport.receive())  # it waited for the bytes
        peer.send(b"next")
        assert not await _yielded(transport.receive())  # the wait was the schedule point
        for _ in range(3):
            assert await _yielded(transport.write(b"a"))
            assert await _yielded(transport.write(b"b"))


async def _send_later(peer: socket.socket) -> None:
    await trio.testing.wait_all_tasks_blocked()
    peer.send(b"late")


async def test_a_skipping_read_still_checks_cancellation_and_loses_nothing(pair: Pair) -> None:
    with trio.fail_after(5):
        transport, peer = pair
        peer.send(b"ping")
        await transport.write(b"pong")  # the next read may skip its schedule point
        with trio.CancelScope() as scope:
            scope.cancel()
            await transport.receive()
        assert scope.cancelled_caught
        assert await transport.receive() == b"ping"  # the bytes stayed in the socket


async def test_without_the_setting_every_read_yields(pair: Pair) -> None:
    with trio.fail_after(5):
        transport, peer = pair
        transport.alternate_schedule_points = False
        for _ in range(3):
            peer.send(b"ping")
            assert await _yielded(transport.write(b"pong"))
            assert await _yielded(transport.receive())

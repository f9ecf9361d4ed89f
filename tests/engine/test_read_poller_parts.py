"""The read poller on its own (socket pairs): who wakes a parked reader and with what."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest
import trio
from trio.testing import wait_all_tasks_blocked

from trio_ws._engine._poller import ParkedReader, ReadPoller, notify_closing, park_reader
from trio_ws._engine._transport import Broken, SocketTransport

if TYPE_CHECKING:
    from pathlib import Path


def _pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    return a, b


async def test_a_parked_reader_wakes_only_when_its_callback_says_so() -> None:
    a, b = _pair()
    seen: list[bytes] = []

    def on_readable() -> bool:
        seen.append(a.recv(100))
        return seen[-1] == b"wake"

    with a, b, trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            woken = trio.Event()

            async def reader() -> None:
                await park_reader(ParkedReader(a.fileno(), on_readable))
                woken.set()

            nursery.start_soon(reader)
            await wait_all_tasks_blocked()
            b.send(b"pong")
            await wait_all_tasks_blocked()
            assert seen == [b"pong"]
            assert not woken.is_set()
            b.send(b"wake")
            await woken.wait()
    assert seen == [b"pong", b"wake"]


async def test_closing_cancelling_and_failing_wake_a_parked_reader() -> None:
    a, b = _pair()

    def never() -> bool:
        return False

    parked = ParkedReader(a.fileno(), never)

    with a, b, trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            woken = trio.Event()

            async def closed() -> None:  # ClosedResourceError, as from trio's wait_readable
                with pytest.raises(trio.ClosedResourceError):
                    await park_reader(parked)
                woken.set()

            nursery.start_soon(closed)
            await wait_all_tasks_blocked()
            notify_closing(ParkedReader(a.fileno(), never))  # another reader's: not this one
            await wait_all_tasks_blocked()
            assert not woken.is_set()
            notify_closing(parked)
        # cancelled: unregistered at once, later data calls nothing
        calls: list[int] = []
        with trio.move_on_after(0) as scope:
            await park_reader(ParkedReader(a.fileno(), lambda: bool(calls.append(1))))
        assert scope.cancelled_caught
        b.send(b"x")
        await wait_all_tasks_blocked()
        assert calls == []

        # the callback's own error is raised in the parked task
        def broken() -> bool:
            raise ValueError("bad frame")

        with pytest.raises(ValueError, match="bad frame"):
            await park_reader(ParkedReader(a.fileno(), broken))


async def test_a_reused_descriptor_wakes_the_reader_of_the_closed_socket() -> None:
    poller = ReadPoller()
    a, b = _pair()
    fd = a.fileno()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poller.run)

            async def stale() -> None:
                with pytest.raises(trio.ClosedResourceError):
                    await poller.park(ParkedReader(fd, lambda: False))

            nursery.start_soon(stale)
            await wait_all_tasks_blocked()
            a.close()  # behind the poller's back: the kernel drops it from the epoll
            b.close()
            c, d = _pair()
            with c, d:
                assert c.fileno() == fd  # the number is given to a new socket
                woken = trio.Event()

                async def fresh() -> None:
                    await poller.park(ParkedReader(fd, lambda: bool(c.recv(10))))
                    woken.set()

                nursery.start_soon(fresh)
                await wait_all_tasks_blocked()
                assert poller.parked == 1
                d.send(b"data")
                await woken.wait()
            nursery.cancel_scope.cancel()


async def test_the_transport_turns_a_close_into_broken() -> None:
    a, b = socket.socketpair()
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(a))
    transport = SocketTransport(stream)
    with b, trio.fail_after(5):
        async with trio.open_nursery() as nursery:

            async def reader() -> None:
                with pytest.raises(Broken):
                    await transport.receive(lambda: False)

            nursery.start_soon(reader)
            await wait_all_tasks_blocked()
            stream.socket.close()  # closed first (trio's close does not reach the poller)
            transport.notify_closing()  # as the engine's abort does
        # data already there is returned without parking
        c, d = socket.socketpair()
        transport = SocketTransport(trio.SocketStream(trio.socket.from_stdlib_socket(c)))
        with c, d:
            d.send(b"ready")
            assert await transport.receive(lambda: False) == b"ready"


async def test_a_reader_that_cannot_park_is_told_so_without_waiting(tmp_path: Path) -> None:
    poller = ReadPoller()
    with (tmp_path / "file").open("w") as regular, trio.fail_after(5):
        # epoll refuses regular files (EPERM): nothing is parked, nothing waits
        assert not await poller.park(ParkedReader(regular.fileno(), lambda: True))
        assert poller.parked == 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(poller.run)
        await wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    a, b = _pair()
    with a, b:  # the poller has ended: the reader must wait its own way
        assert not await poller.park(ParkedReader(a.fileno(), lambda: True))

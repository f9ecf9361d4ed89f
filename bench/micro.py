"""The cost of the trio primitives a per-message path is built from, on this machine.

Each figure is microseconds of CPU per operation, measured in a loop of ``n`` operations inside
one ``trio.run`` (median of ``rounds``). They price the candidate designs of trio_ws's common
path: a shielded cancel scope per send, a checkpoint, a memory-channel hop between two tasks,
a ``trio.Lock`` round, a ``trio.Event``.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


async def _shield(n: int) -> None:
    for _ in range(n):
        with trio.CancelScope(shield=True):  # noqa: ASYNC100 - the empty scope is what we price
            pass


async def _plain_scope(n: int) -> None:
    for _ in range(n):
        with trio.CancelScope():  # noqa: ASYNC100 - the empty scope is what we price
            pass


async def _checkpoint(n: int) -> None:
    for _ in range(n):
        await trio.lowlevel.checkpoint()


async def _checkpoint_if_cancelled(n: int) -> None:
    for _ in range(n):
        await trio.lowlevel.checkpoint_if_cancelled()


async def _shielded_checkpoint(n: int) -> None:
    for _ in range(n):
        with trio.CancelScope(shield=True):
            await trio.lowlevel.checkpoint()


async def _nowait_pair(n: int) -> None:
    send, receive = trio.open_memory_channel[int](1)
    for i in range(n):
        send.send_nowait(i)
        receive.receive_nowait()


async def _channel_hop(n: int) -> None:
    """One message from a task to another that waits for it: a task switch and back."""
    send, receive = trio.open_memory_channel[int](0)

    async def consumer() -> None:
        async for _ in receive:
            pass

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        for i in range(n):
            await send.send(i)
        await send.aclose()


async def _lock(n: int) -> None:
    lock = trio.Lock()
    for _ in range(n):
        async with lock:
            pass


async def _strict_fifo_lock_nowait(n: int) -> None:
    lock = trio.StrictFIFOLock()
    for _ in range(n):
        lock.acquire_nowait()
        lock.release()


async def _event(n: int) -> None:
    for _ in range(n):
        trio.Event().set()


async def _effective_deadline(n: int) -> None:
    for _ in range(n):
        trio.current_effective_deadline()


async def _current_task(n: int) -> None:
    for _ in range(n):
        trio.lowlevel.current_task()


CASES: dict[str, Callable[[int], Awaitable[None]]] = {
    "with CancelScope(shield=True): pass": _shield,
    "with CancelScope(): pass": _plain_scope,
    "await checkpoint()": _checkpoint,
    "await checkpoint_if_cancelled()": _checkpoint_if_cancelled,
    "shielded scope + checkpoint": _shielded_checkpoint,
    "send_nowait + receive_nowait": _nowait_pair,
    "channel hop to a waiting task": _channel_hop,
    "async with trio.Lock()": _lock,
    "StrictFIFOLock acquire_nowait+release": _strict_fifo_lock_nowait,
    "trio.Event().set()": _event,
    "current_effective_deadline()": _effective_deadline,
    "current_task()": _current_task,
}


def measure(case: Callable[[int], Awaitable[None]], n: int) -> float:
    """CPU microseconds per operation, loop overhead included (it is ~0.05 µs)."""

    async def timed() -> float:
        start = time.process_time()
        await case(n)
        return time.process_time() - start

    return trio.run(timed) / n * 1e6


def run(*, rounds: int, n: int) -> dict[str, float]:
    """Median µs per operation for every case, the cases interleaved in each round."""
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(rounds):
        for name, case in CASES.items():
            samples[name].append(measure(case, n))
    return {name: statistics.median(values) for name, values in samples.items()}

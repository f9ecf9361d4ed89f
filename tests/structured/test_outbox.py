"""Structured mode's outbound buffer: a BoundedQueue between senders and the writer."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from trio_ws._structured import _Outbox


def message(n: int) -> dict[str, Any]:
    return {"type": "websocket.send", "text": str(n)}


async def take(outbox: _Outbox) -> int:
    sent = await outbox.next_message()
    outbox.message_done()
    return int(sent["text"])


async def test_senders_waiting_for_room_go_in_the_order_they_came() -> None:
    """A full outbox lines senders up; the writer lets them in oldest first, and a sender
    that comes while others wait does not overtake them, even when there is room."""
    outbox = _Outbox(2)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await outbox.put(message(0))
            await outbox.put(message(1))
            for n in (2, 3, 4):
                nursery.start_soon(outbox.put, message(n))
                await trio.testing.wait_all_tasks_blocked()
            assert outbox.in_flight == 5
            assert await take(outbox) == 0  # lets 2 in
            late = trio.Event()

            async def late_sender() -> None:
                await outbox.put(message(5))
                late.set()

            nursery.start_soon(late_sender)
            await trio.testing.wait_all_tasks_blocked()
            assert not late.is_set()  # 3 and 4 were first
            assert [await take(outbox) for _ in range(5)] == [1, 2, 3, 4, 5]
    assert outbox.in_flight == 0


async def test_a_cancelled_wait_for_room_queues_nothing() -> None:
    outbox = _Outbox(1)
    with trio.fail_after(5):
        await outbox.put(message(0))
        with trio.CancelScope() as scope:
            scope.deadline = trio.current_time() + 0.01
            await outbox.put(message(1))
        assert scope.cancelled_caught
        assert outbox.in_flight == 1
        assert await take(outbox) == 0
        await outbox.put(message(2))
        assert await take(outbox) == 2


async def test_draining_waits_for_every_accepted_message() -> None:
    outbox = _Outbox(4)
    drained = trio.Event()

    async def wait_drained() -> None:
        await outbox.wait_drained()
        drained.set()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await outbox.put(message(0))
            await outbox.put(message(1))
            nursery.start_soon(wait_drained)
            await trio.testing.wait_all_tasks_blocked()
            assert await take(outbox) == 0
            await trio.testing.wait_all_tasks_blocked()
            assert not drained.is_set()
            assert await take(outbox) == 1
    assert drained.is_set()


async def test_abandoning_releases_senders_and_drain_waiters() -> None:
    """When the block ends the writer is gone: waiting senders and later ones get
    BrokenResourceError, and a drain waiter returns."""
    outbox = _Outbox(1)
    errors: list[BaseException] = []

    async def sender(n: int) -> None:
        try:
            await outbox.put(message(n))
        except trio.BrokenResourceError as exc:
            errors.append(exc)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await outbox.put(message(0))
            nursery.start_soon(sender, 1)
            nursery.start_soon(outbox.wait_drained)
            await trio.testing.wait_all_tasks_blocked()
            outbox.abandon()
    assert len(errors) == 1
    assert outbox.in_flight == 0
    with pytest.raises(trio.BrokenResourceError):
        await outbox.put(message(2))

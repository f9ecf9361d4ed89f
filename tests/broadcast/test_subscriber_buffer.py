"""A subscriber's buffer: the shared BoundedQueue plus gap markers kept as positions."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trio_ws import BroadcastGap
from trio_ws.broadcast import SubscriberOverflow
from trio_ws.broadcast._event import BroadcastEvent
from trio_ws.broadcast._subscriber import Subscriber


def event(n: int) -> BroadcastEvent:
    return BroadcastEvent("room", str(n))


async def take(subscriber: Subscriber, count: int) -> list[object]:
    """The next ``count`` items (gaps as "gap"); each is known to be there, so none waits."""
    seen: list[object] = []
    with trio.fail_after(5):
        for _ in range(count):
            try:
                seen.append((await subscriber.__anext__()).message)
            except BroadcastGap:
                seen.append("gap")
    return seen


async def drain(subscriber: Subscriber) -> list[object]:
    """End the subscription, then everything it still yields, and how it stops."""
    subscriber.end()
    seen: list[object] = []
    with trio.fail_after(5):
        while True:
            try:
                seen.append((await subscriber.__anext__()).message)
            except BroadcastGap:
                seen.append("gap")
            except (StopAsyncIteration, SubscriberOverflow) as end:
                seen.append(type(end).__name__)
                return seen


async def test_gaps_come_out_where_the_link_was_lost_once_per_outage() -> None:
    subscriber = Subscriber("room", 8, "drop_oldest")
    subscriber.offer(event(1))
    subscriber.mark_gap()
    subscriber.mark_gap()  # the same outage
    subscriber.offer(event(2))
    subscriber.mark_gap()
    assert await take(subscriber, 4) == ["1", "gap", "2", "gap"]
    assert subscriber.statistics().gaps == 3
    subscriber.mark_gap()  # a new outage after the last gap was read
    assert await drain(subscriber) == ["gap", "StopAsyncIteration"]


async def test_dropping_the_oldest_keeps_a_gap_before_what_followed_it() -> None:
    """The messages before a gap are dropped first; the gap still comes first."""
    subscriber = Subscriber("room", 2, "drop_oldest")
    subscriber.offer(event(1))
    subscriber.mark_gap()
    for n in (2, 3, 4):
        subscriber.offer(event(n))
    assert await drain(subscriber) == ["gap", "3", "4", "StopAsyncIteration"]
    assert subscriber.statistics().dropped == 2


async def test_overflow_close_delivers_the_buffer_then_raises_once() -> None:
    subscriber = Subscriber("room", 2, "close")
    for n in range(5):
        assert subscriber.offer(event(n))
    subscriber.end()  # the broadcast closing does not hide the overflow
    assert await drain(subscriber) == ["0", "1", "SubscriberOverflow"]
    assert subscriber.statistics().dropped == 3
    assert await drain(subscriber) == ["StopAsyncIteration"]  # raised once


async def test_block_refuses_without_waiting_and_put_waits_for_room() -> None:
    subscriber = Subscriber("room", 1, "block")
    assert subscriber.offer(event(1))
    assert not subscriber.offer(event(2))
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(subscriber.put, event(2))
            await trio.testing.wait_all_tasks_blocked()
            assert subscriber.statistics().buffered == 1
            assert (await subscriber.__anext__()).message == "1"
    assert await drain(subscriber) == ["2", "StopAsyncIteration"]
    assert subscriber.statistics().delivered == 2


def test_the_policy_is_validated_by_the_shared_rule() -> None:
    with pytest.raises(ValueError, match='"block", "drop_oldest" or "close"'):
        Subscriber("room", 1, "drop_newest")  # type: ignore[arg-type]

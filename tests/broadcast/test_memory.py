"""The in-memory backend's own promises: delivery before publish returns, and who waits."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trio_ws import Broadcast


async def test_publish_never_waits_for_a_subscriber_that_does_not_read() -> None:
    with trio.fail_after(5):
        async with (
            Broadcast() as broadcast,
            broadcast.subscribe("r", buffer=4) as stalled,
            broadcast.subscribe("r", buffer=1000) as reader,
        ):
            for n in range(1000):
                await broadcast.publish("r", str(n))  # never awaits `stalled`
            assert stalled.statistics().dropped == 996
            assert reader.statistics().buffered == 1000


async def test_block_policy_makes_the_publisher_wait_for_room() -> None:
    with trio.fail_after(5):
        async with (
            Broadcast() as broadcast,
            broadcast.subscribe("b", buffer=1, overflow="block") as subscriber,
        ):
            await broadcast.publish("b", "1")
            published = False

            async def publish_second() -> None:
                nonlocal published
                await broadcast.publish("b", "2")
                published = True

            async with trio.open_nursery() as nursery:
                nursery.start_soon(publish_second)
                await trio.testing.wait_all_tasks_blocked()
                assert not published
                assert (await anext(subscriber)).message == "1"
            assert published
            assert (await anext(subscriber)).message == "2"


def test_unknown_url_schemes_and_options_are_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match="unknown broadcast URL scheme"):
        Broadcast("kafka://localhost")
    with pytest.raises(ValueError, match="must look like"):
        Broadcast("localhost:6379")
    with pytest.raises(ValueError, match="history"):
        Broadcast(history=-1)


async def test_using_a_broadcast_outside_its_block_is_a_clear_error() -> None:
    broadcast = Broadcast()
    with pytest.raises(RuntimeError, match="async with Broadcast"):
        await broadcast.publish("c", "m")


async def test_two_tasks_iterating_one_subscriber_is_an_error() -> None:
    with trio.fail_after(5):
        async with Broadcast() as broadcast, broadcast.subscribe("two") as subscriber:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(anext, subscriber)
                await trio.testing.wait_all_tasks_blocked()
                with pytest.raises(trio.BusyResourceError):
                    await anext(subscriber)
                await broadcast.publish("two", "for the first reader")
            assert subscriber.statistics().delivered == 1

"""Event ids and ``since=``: a subscriber (or a forwarded socket) resumes after the last id it saw,
on every backend (memory, a real redis-server)."""

from __future__ import annotations

import itertools

import pytest
import trio
import trio.lowlevel

from trio_ws import Broadcast, BroadcastEvent, BroadcastGap, Subscriber
from trio_ws.broadcast._event import parse_event_id

TIMEOUT = 10
_names = itertools.count()


def fresh_channel() -> str:
    """A channel no other test used (the session's Redis keeps streams between tests)."""
    return f"resume-{next(_names)}-{trio.current_time()}"


async def next_event(subscriber: Subscriber) -> BroadcastEvent:
    with trio.fail_after(5):
        return await anext(subscriber)


async def take(subscriber: Subscriber, count: int) -> list[str | bytes]:
    return [(await next_event(subscriber)).message for _ in range(count)]


async def publish_and_read_ids(broadcast: Broadcast, channel: str, count: int) -> list[str]:
    """Publish ``count`` messages "0".."count-1" and return their ids, as a subscriber saw them."""
    async with broadcast.subscribe(channel, buffer=count) as subscriber:
        for n in range(count):
            await broadcast.publish(channel, str(n))
        events = [await next_event(subscriber) for _ in range(count)]
    assert [event.message for event in events] == [str(n) for n in range(count)]
    ids = [event.id for event in events]
    assert all(isinstance(event_id, str) for event_id in ids)
    return [event_id for event_id in ids if event_id is not None]


async def test_events_carry_increasing_ids_where_history_is_on(broadcast_url: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with Broadcast(broadcast_url, history=10) as broadcast:
            ids = await publish_and_read_ids(broadcast, fresh_channel(), 4)
            positions = [parse_event_id(event_id) for event_id in ids]
            assert positions == sorted(set(positions))
        async with Broadcast(broadcast_url) as without_history:
            channel = fresh_channel()
            async with without_history.subscribe(channel) as subscriber:
                await without_history.publish(channel, "m")
                assert (await next_event(subscriber)).id is None


async def test_since_replays_what_followed_then_goes_live_without_a_gap(
    broadcast_url: str,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with Broadcast(broadcast_url, history=10) as broadcast:
            channel = fresh_channel()
            ids = await publish_and_read_ids(broadcast, channel, 5)
            async with broadcast.subscribe(channel, since=ids[1]) as subscriber:
                await broadcast.publish(channel, "live")
                assert await take(subscriber, 4) == ["2", "3", "4", "live"]
                assert subscriber.statistics().gaps == 0
            async with broadcast.subscribe(channel, since=ids[4]) as up_to_date:
                await broadcast.publish(channel, "next")
                # no gap: ids[4] is still in the history
                assert await take(up_to_date, 2) == ["live", "next"]


async def test_since_older_than_the_history_is_one_gap_then_what_the_history_holds(
    broadcast_url: str,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with Broadcast(broadcast_url, history=3) as broadcast:
            channel = fresh_channel()
            ids = await publish_and_read_ids(broadcast, channel, 6)  # history: "3", "4", "5"
            async with broadcast.subscribe(channel, since=ids[1]) as subscriber:
                with pytest.raises(BroadcastGap) as gap:
                    await next_event(subscriber)
                assert gap.value.channel == channel
                assert await take(subscriber, 3) == ["3", "4", "5"]
                await broadcast.publish(channel, "live")
                assert await take(subscriber, 1) == ["live"]
                assert subscriber.statistics().gaps == 1


async def test_since_unknown_to_the_history_is_a_gap_not_a_silent_skip(broadcast_url: str) -> None:
    # an id of another channel (or of a Redis that since lost its data, or of a restarted
    # process): the history cannot say what followed it
    with trio.fail_after(TIMEOUT):
        async with Broadcast(broadcast_url, history=5) as broadcast:
            foreign = (await publish_and_read_ids(broadcast, fresh_channel(), 1))[0]
            for since in (foreign, "99999999999999-0"):
                channel = fresh_channel()
                await publish_and_read_ids(broadcast, channel, 2)
                async with broadcast.subscribe(channel, since=since) as subscriber:
                    with pytest.raises(BroadcastGap):
                        await next_event(subscriber)
                    assert await take(subscriber, 2) == ["0", "1"]
                    await broadcast.publish(channel, "live")
                    assert await take(subscriber, 1) == ["live"]


async def test_more_messages_after_since_than_the_buffer_holds_is_a_gap_then_the_newest(
    broadcast_url: str,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with Broadcast(broadcast_url, history=20) as broadcast:
            channel = fresh_channel()
            ids = await publish_and_read_ids(broadcast, channel, 10)
            async with broadcast.subscribe(channel, since=ids[0], buffer=4) as subscriber:
                with pytest.raises(BroadcastGap):
                    await next_event(subscriber)
                assert await take(subscriber, 4) == ["6", "7", "8", "9"]
            async with broadcast.subscribe(channel, since=ids[5], buffer=4) as exact:
                assert await take(exact, 4) == ["6", "7", "8", "9"]  # exactly 4 follow: no gap
                assert exact.statistics().gaps == 0


async def test_messages_published_while_resuming_are_neither_lost_nor_duplicated(
    broadcast_url: str,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with Broadcast(broadcast_url, history=500) as broadcast:
            channel = fresh_channel()
            ids = await publish_and_read_ids(broadcast, channel, 3)
            published = 3
            stop = trio.Event()

            async def publish_continuously() -> None:
                nonlocal published
                while not stop.is_set() and published < 300:
                    await broadcast.publish(channel, str(published))
                    published += 1

            async with trio.open_nursery() as nursery:
                nursery.start_soon(publish_continuously)
                await (
                    trio.lowlevel.checkpoint()
                )  # the publisher is running when the subscription starts
                async with broadcast.subscribe(channel, since=ids[0], buffer=500) as subscriber:
                    stop.set()
            received = []
            async with broadcast.subscribe(channel, since=ids[0], buffer=500) as check:
                received = await take(check, published - 1)
            assert received == [str(n) for n in range(1, published)]
            # the subscriber made while publishing (ended now, it still yields what it holds)
            got = [event.message async for event in subscriber]
            assert got == [str(n) for n in range(1, len(got) + 1)]
            assert len(got) >= 2


@pytest.mark.parametrize(
    ("options", "since", "error"),
    [
        ({"history": 5}, "not-an-id", ValueError),
        ({"history": 5}, "12-x", ValueError),
        ({"history": 5}, "-1", ValueError),
        ({"history": 5}, f"{2**64}-0", ValueError),
        ({"history": 5}, 12, TypeError),
        ({}, "1-0", ValueError),  # the Broadcast keeps no history
    ],
)
async def test_a_bad_since_is_a_typed_error(
    broadcast_url: str, options: dict[str, int], since: object, error: type[Exception]
) -> None:
    with trio.fail_after(TIMEOUT):
        async with Broadcast(broadcast_url, **options) as broadcast:
            with pytest.raises(error):
                async with broadcast.subscribe("x", since=since):  # type: ignore[arg-type]
                    pass


async def test_since_and_history_together_is_a_typed_error(broadcast_url: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with Broadcast(broadcast_url, history=5) as broadcast:
            with pytest.raises(ValueError, match="not both"):
                async with broadcast.subscribe("x", since="1-0", history=2):
                    pass

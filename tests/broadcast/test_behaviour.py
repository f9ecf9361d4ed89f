"""What every Broadcast backend does, run against memory and a real redis-server alike."""

from __future__ import annotations

import pytest
import trio

from trio_ws import (
    Broadcast,
    BroadcastEvent,
    InvalidJSONMessage,
    Subscriber,
    SubscriberOverflow,
)

from ._support import wait_until

TIMEOUT = 10


async def next_event(subscriber: Subscriber) -> BroadcastEvent:
    with trio.fail_after(5):
        return await anext(subscriber)


async def settle(subscriber: Subscriber, buffered: int) -> None:
    """Wait until ``subscriber`` holds ``buffered`` messages (Redis delivers asynchronously)."""
    await wait_until(
        lambda: subscriber.statistics().buffered + subscriber.statistics().dropped >= buffered
    )


async def test_every_subscriber_gets_every_message_in_order_with_its_type(
    broadcast_url: str,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            Broadcast(broadcast_url) as broadcast,
            broadcast.subscribe("order") as first,
            broadcast.subscribe("order") as second,
            broadcast.subscribe("elsewhere") as other,
        ):
            await broadcast.publish("order", "one")
            await broadcast.publish("order", b"\x00two")
            await broadcast.publish("order", "thrée")
            for subscriber in (first, second):
                received = [await next_event(subscriber) for _ in range(3)]
                assert [e.message for e in received] == ["one", b"\x00two", "thrée"]
                assert {e.channel for e in received} == {"order"}
                assert subscriber.statistics().delivered == 3
            await broadcast.publish("elsewhere", "x")
            assert (await next_event(other)).message == "x"
            assert first.statistics().buffered == 0


async def test_publish_json_round_trips_and_bad_json_is_a_typed_error(broadcast_url: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with Broadcast(broadcast_url) as broadcast, broadcast.subscribe("j") as subscriber:
            await broadcast.publish_json("j", {"n": 1, "text": "é"})
            await broadcast.publish("j", "{not json")
            assert (await next_event(subscriber)).json() == {"n": 1, "text": "é"}
            with pytest.raises(InvalidJSONMessage):
                (await next_event(subscriber)).json()


async def test_drop_oldest_keeps_the_newest_and_counts_the_rest(broadcast_url: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            Broadcast(broadcast_url) as broadcast,
            broadcast.subscribe("feed", buffer=3) as slow,
            broadcast.subscribe("feed", buffer=20) as fast,
        ):
            for n in range(10):
                await broadcast.publish("feed", str(n))
            await settle(fast, 10)
            await settle(slow, 10)
            assert [(await next_event(slow)).message for _ in range(3)] == ["7", "8", "9"]
            assert [(await next_event(fast)).message for _ in range(10)] == [
                str(n) for n in range(10)
            ]
            stats = slow.statistics()
            assert (stats.delivered, stats.dropped, stats.buffered) == (3, 7, 0)
            assert fast.statistics().dropped == 0


async def test_close_policy_ends_the_subscription_saying_how_many_were_missed(
    broadcast_url: str,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            Broadcast(broadcast_url) as broadcast,
            broadcast.subscribe("c", buffer=2, overflow="close") as subscriber,
        ):
            for n in range(5):
                await broadcast.publish("c", str(n))
            await settle(subscriber, 5)
            assert (await next_event(subscriber)).message == "0"
            assert (await next_event(subscriber)).message == "1"
            with pytest.raises(SubscriberOverflow) as caught:
                await next_event(subscriber)
            assert caught.value.missed == 3
            assert caught.value.channel == "c"
            assert "3 message(s) missed" in str(caught.value)
            with pytest.raises(StopAsyncIteration):
                await next_event(subscriber)


async def test_block_policy_loses_nothing(broadcast_url: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            Broadcast(broadcast_url) as broadcast,
            broadcast.subscribe("b", buffer=2, overflow="block") as subscriber,
        ):
            received: list[str | bytes] = []

            async def read() -> None:
                async for event in subscriber:
                    received.append(event.message)
                    await trio.sleep(0.001)
                    if len(received) == 20:
                        return

            async with trio.open_nursery() as nursery:
                nursery.start_soon(read)
                for n in range(20):
                    await broadcast.publish("b", str(n))
            assert received == [str(n) for n in range(20)]
            assert subscriber.statistics().dropped == 0


async def test_history_replays_the_last_messages_then_live_ones_without_duplicates(
    broadcast_url: str,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with Broadcast(broadcast_url, history=5) as broadcast:
            channel = f"history-{trio.current_time()}"
            for n in range(8):
                await broadcast.publish(channel, str(n))
            async with broadcast.subscribe(channel, history=3) as subscriber:
                await broadcast.publish(channel, "live")
                got = [(await next_event(subscriber)).message for _ in range(4)]
                assert got == ["5", "6", "7", "live"]
            async with broadcast.subscribe(channel) as without_history:
                await broadcast.publish(channel, "only")
                assert (await next_event(without_history)).message == "only"


async def test_a_cancelled_read_loses_nothing(broadcast_url: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with Broadcast(broadcast_url) as broadcast, broadcast.subscribe("k") as subscriber:
            with trio.move_on_after(0.05):
                await anext(subscriber)
            await broadcast.publish("k", "after")
            assert (await next_event(subscriber)).message == "after"


async def test_the_loop_ends_when_the_broadcast_closes(broadcast_url: str) -> None:
    with trio.fail_after(TIMEOUT):
        messages: list[str | bytes] = []
        ended = trio.Event()
        async with trio.open_nursery() as nursery:
            async with Broadcast(broadcast_url) as broadcast:

                async def listen(task_status: trio.TaskStatus[None]) -> None:
                    async with broadcast.subscribe("end") as subscriber:
                        task_status.started()
                        async for event in subscriber:
                            messages.append(event.message)
                    ended.set()

                await nursery.start(listen)
                await broadcast.publish("end", "last")
                await wait_until(lambda: bool(messages))
            await ended.wait()
        assert messages == ["last"]


async def test_a_finished_subscription_receives_no_more(broadcast_url: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with Broadcast(broadcast_url) as broadcast:
            async with broadcast.subscribe("gone") as subscriber:
                pass
            async with broadcast.subscribe("gone") as fresh:
                await broadcast.publish("gone", "m")
                assert (await next_event(fresh)).message == "m"
            assert subscriber.statistics().buffered == 0
            with pytest.raises(StopAsyncIteration):
                await anext(subscriber)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"buffer": 0}, ValueError),
        ({"overflow": "dropnewest"}, ValueError),
        ({"history": 1}, ValueError),  # the Broadcast keeps no history
        ({"history": -1}, ValueError),
    ],
)
async def test_bad_subscribe_arguments_are_typed_errors(
    broadcast_url: str, kwargs: dict[str, object], error: type[Exception]
) -> None:
    with trio.fail_after(TIMEOUT):
        async with Broadcast(broadcast_url) as broadcast:
            with pytest.raises(error):
                async with broadcast.subscribe("x", **kwargs):  # type: ignore[arg-type]
                    pass
            with pytest.raises(TypeError):
                await broadcast.publish("x", 3)  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                await broadcast.publish("", "m")

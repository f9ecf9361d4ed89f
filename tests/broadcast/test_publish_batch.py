"""Concurrent publishes share round trips (``PublishBatcher``), and each still learns its own
outcome: on a fake sender, and on a real redis-server and cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio

from trio_ws import Broadcast, BroadcastUnavailable
from trio_ws.broadcast._publish_batch import PublishBatcher

from ._support import outage_test, wait_until

if TYPE_CHECKING:
    from collections.abc import Sequence


class FakeRedis:
    """Records what is sent; a channel named "refused" is refused by the server."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = trio.Event()

    async def send_one(self, channel: str, payload: bytes) -> None:
        self.batches.append([channel])
        await self.release.wait()  # the first send stays in flight until released

    async def send_many(self, items: Sequence[tuple[str, bytes]]) -> list[BaseException | None]:
        await trio.lowlevel.checkpoint()
        self.batches.append([channel for channel, _ in items])
        return [ValueError("refused") if channel == "refused" else None for channel, _ in items]


async def test_publishes_queued_behind_one_in_flight_go_in_one_batch_with_their_own_outcome() -> (
    None
):
    fake = FakeRedis()
    batcher = PublishBatcher(fake.send_one, fake.send_many)
    outcomes: dict[str, str] = {}

    async def publish(channel: str) -> None:
        try:
            await batcher.publish(channel, b"m")
        except ValueError as error:
            outcomes[channel] = str(error)
        else:
            outcomes[channel] = "accepted"

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(batcher.run)
            nursery.start_soon(publish, "first")
            await wait_until(lambda: fake.batches == [["first"]])
            for channel in ("a", "refused", "b"):
                nursery.start_soon(publish, channel)
            await wait_until(lambda: len(batcher._queue) == 3)
            fake.release.set()
            await wait_until(lambda: len(outcomes) == 4)
            batcher.close()
    assert fake.batches[0] == ["first"]
    assert sorted(fake.batches[1]) == ["a", "b", "refused"]
    assert len(fake.batches) == 2
    assert outcomes == {"first": "accepted", "a": "accepted", "refused": "refused", "b": "accepted"}


async def test_publishes_still_queued_when_it_closes_are_refused_not_left_waiting() -> None:
    fake = FakeRedis()
    batcher = PublishBatcher(fake.send_one, fake.send_many)
    refused: list[str] = []

    async def publish(channel: str) -> None:
        try:
            await batcher.publish(channel, b"m")
        except BroadcastUnavailable as error:
            refused.append(str(error))

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(batcher.run)
            nursery.start_soon(publish, "first")
            await wait_until(lambda: fake.batches == [["first"]])
            nursery.start_soon(publish, "queued")
            await wait_until(lambda: len(batcher._queue) == 1)
            batcher.close()
            await wait_until(lambda: len(refused) == 1)
            fake.release.set()
    assert "not published" in refused[0]


@pytest.mark.parametrize("history", [0, 100])
async def test_concurrent_publishes_are_batched_and_all_delivered_in_each_tasks_order(
    broadcast_url: str, history: int
) -> None:
    if broadcast_url == "memory://":
        pytest.skip("the memory backend has no round trips to share")
    with trio.fail_after(30):
        async with (
            Broadcast(broadcast_url, history=history) as broadcast,
            broadcast.subscribe(f"batched-{history}", buffer=1000) as subscriber,
        ):
            channel = subscriber.channel
            sizes: list[int] = []
            batcher = broadcast._backend._batcher  # type: ignore[attr-defined]
            send_many = batcher._send_many

            async def counting(items: Sequence[tuple[str, bytes]]) -> list[BaseException | None]:
                sizes.append(len(items))
                result: list[BaseException | None] = await send_many(items)
                return result

            batcher._send_many = counting

            async def publisher(task: int) -> None:
                for n in range(20):
                    await broadcast.publish(channel, f"{task}:{n}")

            async with trio.open_nursery() as nursery:
                for task in range(30):
                    nursery.start_soon(publisher, task)
            got = [(await anext(subscriber)).message for _ in range(600)]
            assert max(sizes) > 1  # publishes did share round trips
            for task in range(30):
                assert [m for m in got if str(m).startswith(f"{task}:")] == [
                    f"{task}:{n}" for n in range(20)
                ]


@outage_test
async def test_concurrent_publishes_while_redis_is_down_each_raise(
    own_redis_server: object,
) -> None:
    server = own_redis_server
    with trio.fail_after(30):
        async with Broadcast(server.url, connect_timeout=1) as broadcast:  # type: ignore[attr-defined]
            server.stop()  # type: ignore[attr-defined]
            refused: list[BroadcastUnavailable] = []

            async def publish(n: int) -> None:
                try:
                    await broadcast.publish("down", str(n))
                except BroadcastUnavailable as error:
                    refused.append(error)

            async with trio.open_nursery() as nursery:
                for n in range(20):
                    nursery.start_soon(publish, n)
            assert len(refused) == 20
            assert all("not published" in str(error) for error in refused)

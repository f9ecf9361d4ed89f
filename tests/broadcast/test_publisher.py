"""``broadcast.publisher()`` on memory, one real Redis and a real 3-master cluster: every
message delivered in order per channel, the window bounded, and a Redis that goes away
mid-window costs reported refusals, none lost silently."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio

from trio_ws import Broadcast, PublishRefused, WebSocket, WebSocketDisconnect, websocket_app
from trio_ws.testing import connect

from ._support import outage_test

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from trio_ws import Publisher, PublisherStatistics

    from ._cluster import LocalCluster
    from .conftest import RedisServer


@pytest.mark.parametrize("history", [0, 100])
async def test_a_sequential_publisher_delivers_everything_in_order_per_channel(
    broadcast_url: str, history: int
) -> None:
    channels = [f"pub-a-{history}", f"pub-b-{history}", f"pub-c-{history}"]  # several masters
    count = 300
    with trio.fail_after(30):
        async with (
            Broadcast(broadcast_url, history=history) as broadcast,
            broadcast.subscribe(channels[0], buffer=count) as first,
            broadcast.subscribe(channels[1], buffer=count) as second,
            broadcast.subscribe(channels[2], buffer=count) as third,
        ):
            largest = 0
            async with broadcast.publisher(max_in_flight=16) as publisher:
                for n in range(count):
                    await publisher.publish(channels[n % 3], f"{n}")
                    stats = publisher.statistics()
                    largest = max(largest, stats.queued + stats.in_flight)
            assert largest <= 16
            assert publisher.statistics().accepted == count
            for index, subscriber in enumerate((first, second, third)):
                got = [(await anext(subscriber)).message for _ in range(count // 3)]
                assert got == [str(n) for n in range(index, count, 3)]
            if history:
                past = await broadcast._backend.recent(channels[0], 3)
                assert [event.message for event in past] == ["291", "294", "297"]


async def test_bytes_and_json_keep_their_type(broadcast_url: str) -> None:
    with trio.fail_after(30):
        async with (
            Broadcast(broadcast_url) as broadcast,
            broadcast.subscribe("pub-types") as subscriber,
        ):
            async with broadcast.publisher() as publisher:
                await publisher.publish("pub-types", b"\x00raw")
                await publisher.publish_json("pub-types", {"n": 1})
            assert (await anext(subscriber)).message == b"\x00raw"
            assert (await anext(subscriber)).json() == {"n": 1}


async def test_a_block_still_open_when_the_broadcast_closes_gets_its_messages_refused(
    broadcast_url: str,
) -> None:
    """The Broadcast's exit does not wait for a publisher block in another task: what it has
    not sent is refused (reported), and the Broadcast ends."""
    outcome: list[BaseException] = []
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            async with Broadcast(broadcast_url) as broadcast:
                opened = trio.Event()
                go_on = trio.Event()

                async def publishing_task() -> None:
                    try:
                        async with broadcast.publisher() as publisher:
                            await publisher.publish("pub-closing", "sent")
                            await publisher.flush()
                            opened.set()
                            await go_on.wait()
                            await publisher.publish("pub-closing", "too late")
                    except PublishRefused as error:
                        outcome.append(error)

                nursery.start_soon(publishing_task)
                await opened.wait()
            go_on.set()
    assert len(outcome) == 1
    assert isinstance(outcome[0], PublishRefused)
    assert outcome[0].refused == (("pub-closing", "too late"),)


def _before_batches(publisher: Publisher, actions: dict[int, Callable[[], object]]) -> None:
    """Wrap the publisher's sender so that ``actions[n]()`` runs (in a thread) just before
    batch number ``n`` goes out: mid-window, with messages queued behind it."""
    sent = 0
    send_many = publisher._send_many

    async def sending(items: Sequence[tuple[str, str | bytes]]) -> list[Exception | None]:
        nonlocal sent
        sent += 1
        action = actions.get(sent)
        if action is not None:
            await trio.to_thread.run_sync(action)
        return await send_many(items)

    publisher._send_many = sending


async def _publish_collecting_refusals(
    publisher: Publisher, channel: str, count: int, refused: list[str | bytes]
) -> None:
    for n in range(count):
        try:
            await publisher.publish(channel, str(n))
        except PublishRefused as error:
            refused.extend(message for _, message in error.refused)
        if n % 20 == 19:
            await trio.sleep(0.01)  # a socket's loop waits for its next message now and then


async def test_redis_refusing_mid_window_reports_exactly_the_messages_not_published(
    redis_server: RedisServer,
) -> None:
    """Redis refuses the history script while it is out of memory: the refused messages
    are reported, and the subscriber gets exactly every other one, in order."""

    def limit(setting: str) -> Callable[[], object]:
        return lambda: redis_server.command("CONFIG", "SET", "maxmemory", setting)

    await _refused_mid_window(redis_server.url, limit("1"), limit("0"))


async def test_cluster_refusing_mid_window_reports_exactly_the_messages_not_published(
    redis_cluster: LocalCluster,
) -> None:
    def limit(setting: str) -> Callable[[], object]:
        def on_every_master() -> None:
            for master in redis_cluster.masters():
                master.command("CONFIG", "SET", "maxmemory", setting)

        return on_every_master

    await _refused_mid_window(redis_cluster.url, limit("1"), limit("0"))


async def _refused_mid_window(
    url: str, refuse: Callable[[], object], accept: Callable[[], object]
) -> None:
    count = 200
    refused: list[str | bytes] = []
    with trio.fail_after(30):
        async with (
            Broadcast(url, history=1000) as broadcast,
            broadcast.subscribe("pub-refused", buffer=count) as subscriber,
        ):
            try:
                async with broadcast.publisher(max_in_flight=16) as publisher:
                    _before_batches(publisher, {3: refuse, 5: accept})
                    await _publish_collecting_refusals(publisher, "pub-refused", count, refused)
            except PublishRefused as error:
                refused.extend(message for _, message in error.refused)
            finally:
                await trio.to_thread.run_sync(accept)
            stats = publisher.statistics()
            assert stats.refused > 0
            assert len(refused) == len(set(refused))  # each reported once
            # every message is accepted or reported (the raising calls' own messages were
            # reported without being queued)
            assert stats.accepted + len(refused) == count
            received = [(await anext(subscriber)).message for _ in range(stats.accepted)]
            assert received == [str(n) for n in range(count) if str(n) not in refused]
            assert int(received[-1]) > max(int(m) for m in refused)  # accepted again after


async def _publish_through_an_outage(
    url: str, channel: str, outage: Callable[[], object], count: int = 100
) -> tuple[PublisherStatistics, list[str | bytes]]:
    """Publish ``count`` messages; ``outage()`` runs before the second batch. Returns the
    publisher's statistics and every message reported refused."""
    refused: list[str | bytes] = []
    with trio.fail_after(60):
        async with Broadcast(url, connect_timeout=1) as broadcast:
            try:
                async with broadcast.publisher(max_in_flight=16) as publisher:
                    _before_batches(publisher, {2: outage})
                    await _publish_collecting_refusals(publisher, channel, count, refused)
            except PublishRefused as error:
                refused.extend(message for _, message in error.refused)
    stats = publisher.statistics()
    assert stats.accepted > 0  # the first batch went through
    assert refused
    assert stats.accepted + len(refused) == count  # each one accepted or reported
    assert len(refused) == len(set(refused))  # once
    return stats, refused


@outage_test
async def test_redis_going_away_mid_window_reports_the_refused_messages(
    own_redis_server: RedisServer,
) -> None:
    server = own_redis_server
    stats, refused = await _publish_through_an_outage(server.url, "pub-gone", server.stop)
    accepted_ones = sorted(set(map(str, range(100))) - set(refused), key=int)
    assert accepted_ones == [str(n) for n in range(stats.accepted)]  # a prefix: the rest refused


@outage_test
async def test_cluster_master_going_away_mid_window_reports_the_refused_messages(
    own_redis_cluster: LocalCluster,
) -> None:
    cluster = own_redis_cluster
    owner = cluster.owner_of("pub-master-gone")
    await _publish_through_an_outage(cluster.url, "pub-master-gone", owner.kill)


@outage_test
async def test_a_socket_loop_whose_publisher_is_refused_closes_with_1011(
    own_redis_server: RedisServer,
) -> None:
    """The documented socket loop: Redis goes away, the next message's `publish` raises
    `PublishRefused`, which closes the handler's socket with 1011 "broadcast unavailable"."""
    server = own_redis_server
    with trio.fail_after(30):
        async with Broadcast(server.url, connect_timeout=1) as broadcast:

            async def handler(ws: WebSocket) -> None:
                await ws.accept()
                async with broadcast.publisher() as publisher:
                    async for text in ws.iter_text():
                        await publisher.publish("pub-socket", text)
                        if text == "flush":
                            await publisher.flush()
                            await ws.send_text("flushed")

            async with connect(websocket_app(handler), raise_app_exceptions=False) as client:
                await client.send_text("flush")
                assert await client.receive_text() == "flushed"
                server.stop()
                for n in range(50):  # one is refused, then the next call raises
                    await client.send_text(str(n))
                    if client.app_finished:
                        break
                await client.wait_app_finished()
                assert isinstance(client.app_exception, PublishRefused)
                assert client.app_exception.refused[0] == ("pub-socket", "0")
                with pytest.raises(WebSocketDisconnect) as closed:
                    await client.receive_text()
                assert closed.value.code == 1011
                assert closed.value.reason == "broadcast unavailable"

"""The Redis backend's failure modes, against a real redis-server that the tests stop,
restart and kill connections of."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest
import trio

from trio_ws import Broadcast, BroadcastGap, BroadcastUnavailable

from ._support import (
    assert_healed_after_one_gap,
    assert_round_trip,
    next_message,
    outage_test,
    read_after_one_gap,
    wait_until,
)

if TYPE_CHECKING:
    from .conftest import RedisServer


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_an_unreachable_server_at_start_is_one_clear_error() -> None:
    url = f"redis://127.0.0.1:{unused_port()}/0"
    with trio.fail_after(10), pytest.raises(BroadcastUnavailable) as caught:
        async with Broadcast(url, connect_timeout=2):
            pytest.fail("the block must not run")
    assert not isinstance(caught.value, BaseExceptionGroup)
    assert "cannot reach Redis" in str(caught.value)
    assert url in str(caught.value)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:notaport/0", "redis:///0", "redis://"])
def test_a_malformed_redis_url_is_rejected_at_construction(url: str) -> None:
    with pytest.raises(ValueError, match="broadcast URL"):
        Broadcast(url)


@outage_test
async def test_publish_while_redis_is_down_raises_and_works_again_after(
    own_redis_server: RedisServer,
) -> None:
    with trio.fail_after(30):
        async with Broadcast(own_redis_server.url, connect_timeout=1) as broadcast:
            await broadcast.publish("p", "before")
            own_redis_server.stop()
            with pytest.raises(BroadcastUnavailable, match="not published"):
                await broadcast.publish("p", "lost")
            own_redis_server.start()
            async with broadcast.subscribe("p") as subscriber:
                await assert_round_trip(broadcast, subscriber, "p", "after")


@outage_test
async def test_a_killed_subscription_connection_is_renewed_and_reports_a_gap(
    own_redis_server: RedisServer,
) -> None:
    with trio.fail_after(30):
        async with (
            Broadcast(own_redis_server.url) as broadcast,
            broadcast.subscribe("k") as subscriber,
        ):
            await assert_round_trip(broadcast, subscriber, "k", "one")
            assert b":1" in own_redis_server.command("CLIENT", "KILL", "TYPE", "pubsub")
            with pytest.raises(BroadcastGap) as caught:
                await next_message(subscriber)
            assert caught.value.channel == "k"
            assert subscriber.statistics().gaps == 1

            # renewed by itself: publish until a message makes it through the new connection
            async def publish_until_received() -> str | bytes:
                async with trio.open_nursery() as nursery:

                    async def keep_publishing() -> None:
                        while True:
                            await broadcast.publish("k", "again")
                            await trio.sleep(0.05)

                    nursery.start_soon(keep_publishing)
                    message = await next_message(subscriber)
                    nursery.cancel_scope.cancel()
                return message

            assert await publish_until_received() == "again"


@outage_test
async def test_a_server_restart_is_survived_with_a_gap(own_redis_server: RedisServer) -> None:
    with trio.fail_after(30):
        async with (
            Broadcast(own_redis_server.url, connect_timeout=1) as broadcast,
            broadcast.subscribe("r") as subscriber,
        ):
            own_redis_server.stop()
            with pytest.raises(BroadcastGap):
                await next_message(subscriber)
            own_redis_server.start()
            received: list[str | bytes] = []

            async def read() -> None:
                async for event in subscriber:
                    received.append(event.message)
                    return

            async with trio.open_nursery() as nursery:
                nursery.start_soon(read)
                n = 0
                while not received:
                    try:
                        await broadcast.publish("r", f"m{n}")
                    except BroadcastUnavailable:  # the command pool may still be reconnecting
                        pass
                    n += 1
                    await trio.sleep(0.05)
            assert received[0].startswith("m")  # type: ignore[union-attr]


async def test_subscribers_in_two_broadcasts_share_messages_through_redis(
    redis_server: RedisServer,
) -> None:
    with trio.fail_after(15):
        async with (
            Broadcast(redis_server.url) as one,
            Broadcast(redis_server.url) as other,
            other.subscribe("shared") as subscriber,
        ):
            await assert_round_trip(one, subscriber, "shared", "across")
            await wait_until(lambda: subscriber.statistics().delivered == 1)


async def test_coredis_pubsub_queue_is_kept_empty(redis_server: RedisServer) -> None:
    """Pins the coredis internal the backend works around: ``PubSub`` queues an item for every
    message even when a handler took it (``_receive_stream``, unbounded); the backend's drain
    task keeps that queue empty, so memory stays bounded by the subscribers' buffers."""
    with trio.fail_after(15):
        async with (
            Broadcast(redis_server.url) as broadcast,
            broadcast.subscribe("drained", buffer=1000) as subscriber,
        ):
            for n in range(200):
                await broadcast.publish("drained", str(n))
            await wait_until(lambda: subscriber.statistics().buffered == 200)
            pubsub = broadcast._backend._links[""].pubsub  # type: ignore[attr-defined]
            queue = pubsub._receive_stream.statistics()
            await wait_until(lambda: pubsub._receive_stream.statistics().current_buffer_used == 0)
            assert queue.max_buffer_size == float("inf")  # why the drain exists


@outage_test
async def test_closing_while_redis_is_down_does_not_hang(own_redis_server: RedisServer) -> None:
    with trio.fail_after(15):
        async with (
            Broadcast(own_redis_server.url, connect_timeout=1) as broadcast,
            broadcast.subscribe("bye") as subscriber,
        ):
            own_redis_server.stop()
            with pytest.raises(BroadcastGap):
                await next_message(subscriber)
        with pytest.raises(StopAsyncIteration):
            await anext(subscriber)


@outage_test
async def test_a_killed_subscription_connection_is_healed_from_history(
    own_redis_server: RedisServer,
) -> None:
    with trio.fail_after(30):
        async with (
            Broadcast(own_redis_server.url, history=100) as broadcast,
            broadcast.subscribe("healed") as subscriber,
        ):
            await assert_round_trip(broadcast, subscriber, "healed", "before")
            assert b":1" in own_redis_server.command("CLIENT", "KILL", "TYPE", "pubsub")
            # published while the subscription connection is being renewed: live, they are
            # lost; the stream has them
            for n in range(20):
                await broadcast.publish("healed", f"during {n}")
            assert await read_after_one_gap(subscriber, 20) == [f"during {n}" for n in range(20)]
            await assert_round_trip(broadcast, subscriber, "healed", "after")
            assert subscriber.statistics().gaps == 1
            assert subscriber.statistics().buffered == 0  # no duplicate waiting


@outage_test
async def test_a_heal_whose_history_read_fails_for_a_moment_is_retried(
    own_redis_server: RedisServer,
) -> None:
    """The stream cannot be read for a moment when the subscription is back (a cluster
    answers CLUSTERDOWN so after a master's restart; here an ACL refuses XREVRANGE): the
    heal retries instead of leaving the gap a loss."""
    server = own_redis_server
    with trio.fail_after(30):
        async with (
            Broadcast(server.url, history=100, connect_timeout=5) as broadcast,
            broadcast.subscribe("healed") as subscriber,
        ):
            await assert_round_trip(broadcast, subscriber, "healed", "before")
            assert b"+OK" in server.command("ACL", "SETUSER", "default", "-xrevrange")
            try:
                assert b":1" in server.command("CLIENT", "KILL", "TYPE", "pubsub")
                for n in range(20):  # while the subscription connection is being renewed
                    await broadcast.publish("healed", f"during {n}")
                await wait_until(lambda: refused_history_reads(server) > 0)  # a heal tried
            finally:
                assert b"+OK" in server.command("ACL", "SETUSER", "default", "+xrevrange")
            assert await read_after_one_gap(subscriber, 20) == [f"during {n}" for n in range(20)]
            await assert_round_trip(broadcast, subscriber, "healed", "after")
            assert subscriber.statistics().gaps == 1


def refused_history_reads(server: RedisServer) -> int:
    """How many XREVRANGE the server refused (its ACL) since it started."""
    stats = server.command("INFO", "commandstats").decode()
    line = next((ln for ln in stats.splitlines() if ln.startswith("cmdstat_xrevrange:")), "")
    fields = dict(field.split("=") for field in line.partition(":")[2].split(",") if field)
    return int(fields.get("rejected_calls", 0))


@outage_test
async def test_a_server_restart_loses_nothing_the_history_holds(
    own_redis_server: RedisServer,
) -> None:
    with trio.fail_after(40):
        async with (
            Broadcast(own_redis_server.url, history=1000, connect_timeout=1) as broadcast,
            broadcast.subscribe("restart", buffer=1000) as subscriber,
        ):
            await assert_round_trip(broadcast, subscriber, "restart", "before")
            own_redis_server.stop()
            own_redis_server.start()
            # published from the moment the server is back, while the subscription is renewed
            await assert_healed_after_one_gap(
                broadcast, subscriber, "restart", published=300, at_least=100
            )
            await assert_round_trip(broadcast, subscriber, "restart", "after")
            assert subscriber.statistics().gaps == 1


@outage_test
async def test_one_outage_is_one_gap_however_many_reconnect_attempts_fail(
    own_redis_server: RedisServer,
) -> None:
    with trio.fail_after(40):
        async with (
            Broadcast(own_redis_server.url, history=100, connect_timeout=1) as broadcast,
            broadcast.subscribe("outage", buffer=100) as subscriber,
        ):
            own_redis_server.stop()
            # the outage itself: long enough for several failed reconnect attempts (50 ms,
            # 100 ms, 200 ms, ... backoff)
            await trio.sleep(3)
            own_redis_server.start()
            await assert_healed_after_one_gap(
                broadcast, subscriber, "outage", published=50, at_least=1
            )
            assert subscriber.statistics().gaps == 1

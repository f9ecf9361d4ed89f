"""A batch of publishes over several masters of a real Redis Cluster: each master gets its own
pipeline, all sent at once, so a slow master holds up only its own messages; each message
still gets its own outcome, each channel keeps its order, and cancellation follows the
publisher's rules.

A master is made slow with ``CLIENT PAUSE <ms> WRITE`` (it answers nothing that writes, which
includes ``SPUBLISH`` and scripts, until the pause ends or ``CLIENT UNPAUSE``).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest
import trio

from trio_ws import Broadcast, PublishRefused
from trio_ws.broadcast._redis import RedisBackend

from ._support import wait_until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from trio_ws import Publisher
    from trio_ws.broadcast._redis_cluster import RedisClusterBackend

    from ._cluster import ClusterNode, LocalCluster


def _on_two_masters(cluster: LocalCluster, prefix: str) -> tuple[str, str, ClusterNode]:
    """Two channels whose slots two different masters own, and the first one's master."""
    first = f"{prefix}-0"
    owner = cluster.owner_of(first)
    for n in range(1, 50):
        other = f"{prefix}-{n}"
        if cluster.owner_of(other) is not owner:
            return first, other, owner
    raise LookupError("no two channels on different masters")  # pragma: no cover


@contextlib.asynccontextmanager
async def _paused(master: ClusterNode, milliseconds: int) -> AsyncIterator[None]:
    """``master`` answers no write for ``milliseconds`` (or until the block ends)."""
    await trio.to_thread.run_sync(master.command, "CLIENT", "PAUSE", str(milliseconds), "WRITE")
    try:
        yield
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(master.command, "CLIENT", "UNPAUSE")


@pytest.mark.parametrize("history", [0, 100])
async def test_a_slow_master_does_not_hold_up_another_masters_messages_of_the_same_batch(
    redis_cluster: LocalCluster, history: int
) -> None:
    """Fails with coredis' cluster pipeline alone: it waits for the first master's answers
    before it writes to the next."""
    slow_channel, fast_channel, slow = _on_two_masters(redis_cluster, f"overlap-{history}")
    outcomes: list[Exception | None] = []
    with trio.fail_after(30):
        async with (
            Broadcast(redis_cluster.url, history=history) as broadcast,
            broadcast.subscribe(slow_channel) as slow_subscriber,
            broadcast.subscribe(fast_channel) as fast_subscriber,
        ):
            backend: RedisClusterBackend = broadcast._backend  # type: ignore[assignment]

            # the slow master's message first: coredis would serve its master first
            batch = [(slow_channel, "slow 1"), (fast_channel, "fast 1"),
                     (slow_channel, "slow 2"), (fast_channel, "fast 2")]  # fmt: skip

            async def send() -> None:
                outcomes.extend(await backend.publish_many(batch))

            async with trio.open_nursery() as nursery, _paused(slow, 20_000):
                nursery.start_soon(send)
                with trio.fail_after(5):  # the pause lasts 20 s
                    fast = [(await anext(fast_subscriber)).message for _ in range(2)]
                assert fast == ["fast 1", "fast 2"]  # in order, while the slow master waits
                assert not outcomes  # the batch is not answered until every master is
            assert outcomes == [None, None, None, None]
            assert [(await anext(slow_subscriber)).message for _ in range(2)] == [
                "slow 1",
                "slow 2",
            ]


async def test_a_master_that_does_not_answer_refuses_only_its_own_messages(
    redis_cluster: LocalCluster,
) -> None:
    """Each message of the batch gets its own outcome: the paused master's time out
    (reported once, in `PublishRefused`), the other master's are accepted and delivered."""
    slow_channel, fast_channel, slow = _on_two_masters(redis_cluster, "refuse-own")
    items = [(slow_channel, "s1"), (fast_channel, "f1"), (slow_channel, "s2"),
             (fast_channel, "f2"), (fast_channel, "f3")]  # fmt: skip
    with trio.fail_after(30):
        async with (
            Broadcast(redis_cluster.url, connect_timeout=1) as broadcast,
            broadcast.subscribe(fast_channel) as fast_subscriber,
        ):
            publisher: Publisher | None = None

            async def publish_all() -> None:
                nonlocal publisher
                async with broadcast.publisher() as publisher:
                    for channel, message in items:
                        await publisher.publish(channel, message)
                    await publisher.flush()

            async with _paused(slow, 6_000):
                with pytest.raises(PublishRefused) as raised:
                    await publish_all()
            assert isinstance(raised.value.__cause__, trio.TooSlowError)
            refused = list(raised.value.refused)
            assert refused == [(slow_channel, "s1"), (slow_channel, "s2")]
            assert publisher is not None
            stats = publisher.statistics()
            assert (stats.accepted, stats.refused) == (3, 2)
            got = [(await anext(fast_subscriber)).message for _ in range(3)]
            assert got == ["f1", "f2", "f3"]


async def test_a_cancelled_flush_or_block_while_one_master_holds_the_batch(
    redis_cluster: LocalCluster,
) -> None:
    """A cancelled flush leaves the batch in the window (answered later); a block cancelled
    while a master holds its batch ends at once with a plain `trio.Cancelled` (no group out
    of the masters' nursery), counting the batch as abandoned."""
    slow_channel, fast_channel, slow = _on_two_masters(redis_cluster, "cancel-masters")
    with trio.fail_after(30):
        async with (
            Broadcast(redis_cluster.url) as broadcast,
            broadcast.subscribe(fast_channel) as fast_subscriber,
        ):
            async with broadcast.publisher() as publisher:
                async with _paused(slow, 20_000):
                    await publisher.publish(slow_channel, "held")
                    await publisher.publish(fast_channel, "passes")
                    assert (await anext(fast_subscriber)).message == "passes"
                    with trio.move_on_after(0.2) as waited:
                        await publisher.flush()
                    assert waited.cancelled_caught
                    assert publisher.statistics().in_flight == 2  # still in the window
                await publisher.flush()  # answered once the master is back
                assert publisher.statistics().accepted == 2

            caught: list[BaseException] = []
            async with _paused(slow, 20_000):
                with trio.CancelScope() as scope:
                    try:
                        async with broadcast.publisher() as cancelled:
                            await cancelled.publish(slow_channel, "held again")
                            await cancelled.publish(fast_channel, "passes again")
                            assert (await anext(fast_subscriber)).message == "passes again"
                            scope.cancel()
                            await trio.sleep_forever()
                    except BaseException as error:
                        caught.append(error)
                        raise
            assert scope.cancelled_caught
            assert [type(error) for error in caught] == [trio.Cancelled]
            stats = cancelled.statistics()
            assert (stats.accepted, stats.abandoned) == (0, 2)
            await wait_until(lambda: cancelled._sender_scope.cancelled_caught)  # the sender ended


async def test_a_master_whose_connection_dies_mid_batch_refuses_only_its_own_messages(
    redis_cluster: LocalCluster,
) -> None:
    """The slow master's connections are killed while it holds the batch: its messages are
    refused (each reported once), the other master's were published meanwhile, in order."""
    slow_channel, fast_channel, slow = _on_two_masters(redis_cluster, "killed-master")
    items = [(slow_channel, "s1"), (fast_channel, "f1"), (slow_channel, "s2"),
             (fast_channel, "f2")]  # fmt: skip
    with trio.fail_after(30):
        async with (
            Broadcast(redis_cluster.url, connect_timeout=2) as broadcast,
            broadcast.subscribe(fast_channel) as fast_subscriber,
            broadcast.publisher() as publisher,
            _paused(slow, 20_000),
        ):
            for channel, message in items:
                await publisher.publish(channel, message)
            got = [(await anext(fast_subscriber)).message for _ in range(2)]
            assert got == ["f1", "f2"]
            assert publisher.statistics().in_flight == 4  # the slow master holds the batch
            await trio.to_thread.run_sync(slow.command, "CLIENT", "KILL", "TYPE", "normal")
            with pytest.raises(PublishRefused) as raised:
                await publisher.flush()
            assert raised.value.refused == ((slow_channel, "s1"), (slow_channel, "s2"))
            stats = publisher.statistics()
            assert (stats.accepted, stats.refused) == (2, 2)


async def test_an_unexpected_error_of_one_master_comes_out_alone_not_in_a_group(
    redis_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error that is not the link's (a bug) is not turned into refusals: it comes out of
    the batch unwrapped, as on one Redis, not in the masters' nursery's ExceptionGroup."""
    slow_channel, fast_channel, _slow = _on_two_masters(redis_cluster, "unexpected")
    send_one_master = RedisBackend._send_publishes

    async def failing_for_one(
        backend: RedisBackend, items: Sequence[tuple[str, bytes]]
    ) -> list[BaseException | None]:
        if items[0][0] == slow_channel:
            raise ValueError("a bug")
        return await send_one_master(backend, items)

    with trio.fail_after(30):
        async with Broadcast(redis_cluster.url) as broadcast:
            monkeypatch.setattr(RedisBackend, "_send_publishes", failing_for_one)
            backend: RedisClusterBackend = broadcast._backend  # type: ignore[assignment]
            with pytest.raises(ValueError, match="a bug"):
                await backend.publish_many([(slow_channel, "s"), (fast_channel, "f")])

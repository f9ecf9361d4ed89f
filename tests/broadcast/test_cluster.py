"""The Redis Cluster backend's failure modes, on a real cluster (3 masters, 1 replica each) that
the tests fail over, restart, break and reshard. The behaviour every backend shares is in
test_behaviour.py, test_resume.py and test_forward.py, which run on the cluster too."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
import trio

from trio_ws import Broadcast, BroadcastGap, BroadcastUnavailable
from trio_ws.broadcast._redis_cluster import stream_key

from ._support import (
    assert_healed_after_one_gap,
    assert_round_trip,
    next_message,
    outage_test,
    read_after_one_gap,
    task_count,
)

if TYPE_CHECKING:
    from ._cluster import ClusterNode, LocalCluster


def connections(cluster: LocalCluster) -> int:
    """Client connections to every running node, without redis-cli's own."""
    return sum(int(node.command("INFO", "clients").split("connected_clients:")[1].split()[0]) - 1
               for node in cluster.nodes if node.running)  # fmt: skip


async def settle(cluster: LocalCluster, expected: int) -> int:
    """The connection count, once it is ``expected`` (closing sockets take a moment to count)."""
    with trio.move_on_after(5):
        while connections(cluster) != expected:  # noqa: ASYNC110
            await trio.sleep(0.05)
    return connections(cluster)


async def outage_lines(
    caplog: pytest.LogCaptureFixture, cluster: LocalCluster, master: ClusterNode
) -> list[str]:
    """The log lines of ``master``'s subscription link, once its outage has ended (or after
    10 s without that line)."""
    what = f"trio_ws: broadcast: Redis at {cluster.url}, master {master.address}: "
    lines: list[str] = []
    with trio.move_on_after(10):
        while not any(line.startswith("recovered") for line in lines):
            await trio.sleep(0.05)
            lines = [record.getMessage().removeprefix(what) for record in caplog.records
                     if record.getMessage().startswith(what)]  # fmt: skip
    return lines


@outage_test
async def test_a_failover_costs_one_gap_healed_from_history_and_leaks_nothing(
    own_redis_cluster: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    cluster = own_redis_cluster
    caplog.set_level(logging.WARNING, logger="trio_ws.broadcast")
    with trio.fail_after(90):
        async with (
            Broadcast(cluster.url, history=1000, connect_timeout=2) as broadcast,
            broadcast.subscribe("room", buffer=1000) as subscriber,
        ):
            await assert_round_trip(broadcast, subscriber, "room", "before")
            steady: list[tuple[int, int]] = []
            # there and back: the first failover connects the pool to a new master; the
            # second must not add any task or connection
            for round_ in range(2):
                old = cluster.owner_of("room")
                new = await trio.to_thread.run_sync(cluster.failover, old)
                await assert_healed_after_one_gap(broadcast, subscriber, "room")
                await assert_round_trip(broadcast, subscriber, "room", f"after {round_}")
                assert subscriber.statistics().gaps == round_ + 1
                # the old master's link logs its loss, then its end, naming the new master
                lines = await outage_lines(caplog, cluster, old)
                assert lines[0].startswith("subscription connection lost"), lines
                assert lines[-1].startswith("recovered after"), lines
                ended = lines[-1]
                assert ended.endswith(f"; no longer a master, its channels go to {new.address}")
                steady.append((task_count(), connections(cluster)))
            assert steady[1][0] == steady[0][0]
            assert await settle(cluster, steady[0][1]) == steady[0][1]


def channel_elsewhere(cluster: LocalCluster, master: ClusterNode) -> str:
    """A channel whose slot another master than ``master`` owns."""
    return next(name for name in (f"elsewhere-{n}" for n in range(100))
                if cluster.owner_of(name) is not master)  # fmt: skip


async def publish_until(
    broadcast: Broadcast, channel: str, done: trio.Event, accepted: list[str]
) -> None:
    """Publish ``e0``, ``e1``, ... to ``channel`` every 10 ms until ``done`` (at most 3,000),
    keeping in ``accepted`` those the cluster took (it refuses some while it is down)."""
    for n in range(3000):
        if done.is_set():
            return
        try:
            await broadcast.publish(channel, f"e{n}")
        except BroadcastUnavailable:
            pass
        else:
            accepted.append(f"e{n}")
        await trio.sleep(0.01)


@outage_test
@pytest.mark.parametrize("fault", ["restart", "failover"])
async def test_a_failed_master_costs_its_own_channels_a_gap_and_no_other_channel_one(
    own_redis_cluster: LocalCluster, fault: str
) -> None:
    """Requirement 2: a master that is restarted (or fails over) costs the subscribers of its
    channels one gap, healed from history; a channel on another master goes on without a gap
    and loses nothing of what was published to it meanwhile. Nothing leaks."""
    cluster = own_redis_cluster
    victim = cluster.owner_of("room")
    elsewhere = channel_elsewhere(cluster, victim)
    with trio.fail_after(90):
        async with (
            Broadcast(cluster.url, history=1000, connect_timeout=2) as broadcast,
            broadcast.subscribe("room", buffer=1000) as subscriber,
            broadcast.subscribe(elsewhere, buffer=5000) as bystander,
        ):
            await assert_round_trip(broadcast, subscriber, "room", "before")
            await assert_round_trip(broadcast, bystander, elsewhere, "before")
            tasks_before, connections_before = task_count(), connections(cluster)
            done, accepted_elsewhere = trio.Event(), ["before"]
            async with trio.open_nursery() as nursery:
                nursery.start_soon(publish_until, broadcast, elsewhere, done, accepted_elsewhere)
                # (a restart that outlasts the node timeout is a failover: either way one gap)
                if fault == "restart":
                    await trio.to_thread.run_sync(cluster.restart, victim)
                else:
                    await trio.to_thread.run_sync(cluster.failover, victim)
                await assert_healed_after_one_gap(broadcast, subscriber, "room")
                assert subscriber.statistics().gaps == 1
                done.set()
            assert len(accepted_elsewhere) >= 10
            # the other master's channel: every message it took, in order, and no gap
            received = ["before"]
            received += [await next_message(bystander) for _ in accepted_elsewhere[1:]]
            assert received == accepted_elsewhere
            assert bystander.statistics().gaps == 0
            await assert_round_trip(broadcast, bystander, elsewhere, "still")
            if fault == "restart":  # (a failover adds the new master's connections: the
                # failover test above checks that a second one adds nothing)
                assert task_count() == tasks_before
                assert await settle(cluster, connections_before) == connections_before


@outage_test
async def test_publishing_to_a_slot_without_an_owner_raises_unavailable(
    own_redis_cluster: LocalCluster,
) -> None:
    cluster = own_redis_cluster
    with trio.fail_after(60):
        async with Broadcast(cluster.url, connect_timeout=1) as broadcast:
            await broadcast.publish("room", "fine")
            master = cluster.owner_of("room")
            replica = cluster.replica_of(master)
            replica.kill()
            master.kill()
            for _ in range(3):
                with pytest.raises(BroadcastUnavailable, match="not published"):
                    await broadcast.publish("room", "nobody owns its slot")


@outage_test
async def test_renewals_leak_no_connection_and_no_task(own_redis_cluster: LocalCluster) -> None:
    cluster = own_redis_cluster
    with trio.fail_after(60):
        async with (
            Broadcast(cluster.url, history=100) as broadcast,
            broadcast.subscribe("room") as subscriber,
        ):
            await assert_round_trip(broadcast, subscriber, "room", "first")
            tasks_before, connections_before = task_count(), connections(cluster)
            for round_ in range(3):
                for node in cluster.masters():
                    node.command("CLIENT", "KILL", "TYPE", "pubsub")
                await broadcast.publish("room", f"round {round_}")
                assert await read_after_one_gap(subscriber, 1) == [f"round {round_}"]
            assert task_count() == tasks_before
            assert await settle(cluster, connections_before) == connections_before


@outage_test
async def test_a_slot_moved_to_another_master_is_followed_ask_and_moved(
    own_redis_cluster: LocalCluster,
) -> None:
    cluster = own_redis_cluster
    with trio.fail_after(60):
        async with (
            Broadcast(cluster.url, history=100) as broadcast,
            broadcast.subscribe("room") as subscriber,
        ):
            await assert_round_trip(broadcast, subscriber, "room", "before")
            source = cluster.owner_of("room")
            target = next(node for node in cluster.masters() if node is not source)
            slot, key = str(cluster.slot_of("room")), stream_key("room")
            source_id, target_id = source.node_id(), target.node_id()
            target.command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
            source.command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
            source.command("MIGRATE", "127.0.0.1", str(target.port), "", "0", "5000",
                           "KEYS", key)  # fmt: skip
            await broadcast.publish("room", "asked")  # the source answers ASK: key moved
            for node in cluster.masters():
                node.command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
            await broadcast.publish("room", "moved")  # the source answers MOVED
            assert cluster.owner_of("room") is target
            # the source dropped the channel's subscription (one gap); what the live link
            # missed is healed from the stream on the target, without duplicates
            messages: list[str | bytes] = []
            gaps = 0
            while len(messages) < 2:
                try:
                    messages.append(await next_message(subscriber))
                except BroadcastGap:
                    gaps += 1
            assert (messages, gaps) == (["asked", "moved"], 1)
            await assert_round_trip(broadcast, subscriber, "room", "after")

"""Presence (``broadcast.track``) on memory and on a real redis-server.

Two ``Broadcast`` objects on one Redis stand for two processes (each has its own hub, its own
subscription connection and its own presence replica); the crash test uses a real second
process killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

import trio_ws
from trio_ws.broadcast import Presence, PresenceDiff, SubscriberOverflow
from trio_ws.broadcast._presence import presence_channel
from trio_ws.broadcast._presence_replica import Replica
from trio_ws.broadcast._presence_store import Member

from ._support import coredis_leaks_streams_of_failed_connections, outage_test, wait_until

if TYPE_CHECKING:
    from ._cluster import LocalCluster
    from .conftest import RedisServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


async def next_diff(presence: Presence, within: float = 5) -> PresenceDiff:
    with trio.fail_after(within):
        return await presence.diffs().__anext__()


# ---------------------------------------------------------------- behaviour, on every backend


async def test_a_tracker_lists_itself_and_sees_others_join_and_leave(broadcast_url: str) -> None:
    with trio.fail_after(10):
        async with (
            trio_ws.Broadcast(broadcast_url) as broadcast,
            broadcast.track("p.room1", "ann", {"device": "phone"}) as ann,
        ):
            assert ann.list() == {"ann": [{"device": "phone"}]}
            async with broadcast.track("p.room1", "bob", {"device": "laptop"}) as bob:
                # the newcomer gets the whole list at once, not only later diffs
                assert bob.list() == {
                    "ann": [{"device": "phone"}],
                    "bob": [{"device": "laptop"}],
                }
                diff = await next_diff(ann)
                assert diff == PresenceDiff(joins={"bob": [{"device": "laptop"}]}, leaves={})
                assert ann.list() == bob.list()
            diff = await next_diff(ann)
            assert diff == PresenceDiff(joins={}, leaves={"bob": [{"device": "laptop"}]})
            assert ann.list() == {"ann": [{"device": "phone"}]}
            # bob's diffs ended with its block
            with pytest.raises(StopAsyncIteration):
                await bob.diffs().__anext__()


async def test_one_key_from_two_connections_is_listed_with_both_metas(broadcast_url: str) -> None:
    with trio.fail_after(10):
        async with trio_ws.Broadcast(broadcast_url) as broadcast:
            async with (
                broadcast.track("p.room2", "ann", {"tab": 1}) as first,
                broadcast.track("p.room2", "ann", {"tab": 2}) as second,
            ):
                assert first.list() == {"ann": [{"tab": 1}, {"tab": 2}]}
                assert second.list() == first.list()
            async with broadcast.track("p.room2", "eve") as eve:
                assert eve.list() == {"eve": [None]}  # nothing left of ann


async def test_update_replaces_the_meta_with_a_leave_and_a_join(broadcast_url: str) -> None:
    with trio.fail_after(10):
        async with (
            trio_ws.Broadcast(broadcast_url) as broadcast,
            broadcast.track("p.update", "ann", {"status": "away"}) as ann,
            broadcast.track("p.update", "bob") as bob,
        ):
            await ann.update({"status": "here"})
            assert ann.meta == {"status": "here"}
            diff = await next_diff(bob)
            assert diff == PresenceDiff(
                joins={"ann": [{"status": "here"}]}, leaves={"ann": [{"status": "away"}]}
            )
            assert bob.list() == {"ann": [{"status": "here"}], "bob": [None]}
            await ann.update({"status": "here"})  # the same meta again: no diff
            with pytest.raises(TypeError, match="JSON"):
                await ann.update({"when": object()})
            async with broadcast.track("p.update", "carl"):
                assert (await next_diff(bob)).joins == {"carl": [None]}
        with pytest.raises(RuntimeError, match="ended"):
            await ann.update({})


async def test_channels_are_apart(broadcast_url: str) -> None:
    with trio.fail_after(10):
        async with (
            trio_ws.Broadcast(broadcast_url) as broadcast,
            broadcast.track("p.room3", "ann") as ann,
            broadcast.track("p.room4", "bob") as bob,
        ):
            assert ann.list() == {"ann": [None]}
            assert bob.list() == {"bob": [None]}
            assert ann.statistics().delivered == 0


async def test_overflow_close_ends_the_diffs_with_subscriber_overflow(broadcast_url: str) -> None:
    with trio.fail_after(10):
        async with (
            trio_ws.Broadcast(broadcast_url) as broadcast,
            broadcast.track("p.room5", "ann", buffer=2, overflow="close") as ann,
        ):
            for name in ("b", "c", "d"):
                async with broadcast.track("p.room5", name):
                    pass
            # b joined, b left (2 diffs buffered), c joined: overflow
            assert (await next_diff(ann)).joins == {"b": [None]}
            assert (await next_diff(ann)).leaves == {"b": [None]}
            with pytest.raises(SubscriberOverflow) as raised:
                await next_diff(ann)
            assert raised.value.missed == 4
            with pytest.raises(StopAsyncIteration):
                await next_diff(ann)
            assert ann.list() == {"ann": [None]}  # the list stays exact


async def test_overflow_drop_oldest_keeps_the_newest_diffs(broadcast_url: str) -> None:
    with trio.fail_after(10):
        async with (
            trio_ws.Broadcast(broadcast_url) as broadcast,
            broadcast.track("p.room6", "ann", buffer=1) as ann,
        ):
            async with broadcast.track("p.room6", "bob"):
                pass
            assert ann.statistics().dropped == 1
            assert await next_diff(ann) == PresenceDiff(joins={}, leaves={"bob": [None]})


async def test_overflow_block_holds_the_channels_updates_until_the_loop_reads() -> None:
    """Memory: with a full "block" tracker, the next change waits (here: carl's entry)."""
    with trio.fail_after(10):
        async with (
            trio_ws.Broadcast() as broadcast,
            broadcast.track("p.block", "ann", buffer=1, overflow="block") as ann,
            broadcast.track("p.block", "bob"),  # its join fills ann's buffer
            trio.open_nursery() as nursery,
        ):
            entered = trio.Event()

            async def carl() -> None:
                async with broadcast.track("p.block", "carl"):
                    entered.set()
                    await trio.sleep_forever()

            nursery.start_soon(carl)
            await trio.testing.wait_all_tasks_blocked()
            assert not entered.is_set()
            assert (await next_diff(ann)).joins == {"bob": [None]}
            await entered.wait()
            assert (await next_diff(ann)).joins == {"carl": [None]}
            assert ann.statistics().dropped == 0
            nursery.cancel_scope.cancel()


async def test_one_task_iterates_the_diffs_and_the_end_keeps_what_was_buffered() -> None:
    with trio.fail_after(10):
        async with trio_ws.Broadcast() as broadcast:
            async with broadcast.track("p.busy", "ann") as ann:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(ann.diffs().__anext__)
                    await trio.testing.wait_all_tasks_blocked()
                    with pytest.raises(trio.BusyResourceError):
                        await ann.diffs().__anext__()
                    nursery.cancel_scope.cancel()
                async with broadcast.track("p.busy", "bob"):
                    pass
            # the block is over: the two diffs buffered before its end are still there
            assert (await next_diff(ann)).joins == {"bob": [None]}
            assert (await next_diff(ann)).leaves == {"bob": [None]}
            with pytest.raises(StopAsyncIteration):
                await next_diff(ann)


async def test_bad_arguments_are_refused_before_anything_is_announced(broadcast_url: str) -> None:
    with trio.fail_after(10):
        await _refuse_bad_arguments(broadcast_url)


async def _refuse_bad_arguments(broadcast_url: str) -> None:
    async with trio_ws.Broadcast(broadcast_url) as broadcast:
        with pytest.raises(TypeError, match="JSON"):
            async with broadcast.track("p.room7", "ann", {"when": object()}):
                pass
        with pytest.raises(TypeError, match="key"):
            async with broadcast.track("p.room7", ""):
                pass
        with pytest.raises(TypeError, match="channel"):
            async with broadcast.track("", "ann"):
                pass
        for bad in (0, -1, float("inf"), float("nan"), "3"):
            with pytest.raises(ValueError, match="ttl"):
                async with broadcast.track("p.room7", "ann", ttl=bad):  # type: ignore[arg-type]
                    pass
        with pytest.raises(ValueError, match="overflow"):
            async with broadcast.track("p.room7", "ann", overflow="wait"):  # type: ignore[arg-type]
                pass
        async with broadcast.track("p.room7", "eve") as eve:
            assert eve.list() == {"eve": [None]}
    with pytest.raises(RuntimeError, match="async with"):
        broadcast.track("p.room7", "ann")


async def test_heartbeats_keep_a_member_for_many_ttls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Memory on the autojump clock: 100 TTLs pass, the members stay, no diff is made up."""
    async with (
        trio_ws.Broadcast() as broadcast,
        broadcast.track("p.room8", "ann", ttl=1) as ann,
        broadcast.track("p.room8", "bob", ttl=5) as bob,
    ):
        start = trio.current_time()
        await trio.sleep(100)
        assert trio.current_time() - start >= 100
        assert ann.list() == {"ann": [None], "bob": [None]}
        assert bob.list() == ann.list()
        assert ann.statistics().buffered == 1  # bob's join only
        assert bob.statistics().buffered == 0


# ---------------------------------------------------------------- across processes (Redis)


async def test_two_processes_see_the_same_list(redis_server: RedisServer) -> None:
    with trio.fail_after(15):
        async with (
            trio_ws.Broadcast(redis_server.url) as one,
            trio_ws.Broadcast(redis_server.url) as two,
            one.track("p.room9", "ann", {"worker": 1}) as ann,
        ):
            async with two.track("p.room9", "bob", {"worker": 2}) as bob:
                assert bob.list() == {"ann": [{"worker": 1}], "bob": [{"worker": 2}]}
                assert await next_diff(ann) == PresenceDiff(
                    joins={"bob": [{"worker": 2}]}, leaves={}
                )
                assert ann.list() == bob.list()
                await bob.update({"worker": 2, "typing": True})
                updated = await next_diff(ann)
                assert updated.joins == {"bob": [{"worker": 2, "typing": True}]}
                assert ann.list() == bob.list()
            assert (await next_diff(ann)).leaves == {"bob": [{"worker": 2, "typing": True}]}
            assert ann.list() == {"ann": [{"worker": 1}]}


async def test_missed_diffs_are_healed_by_the_next_heartbeat(redis_server: RedisServer) -> None:
    """A diff that never arrives (published nowhere) is made good by the heartbeat snapshot."""
    with trio.fail_after(15):
        async with (
            trio_ws.Broadcast(redis_server.url) as one,
            trio_ws.Broadcast(redis_server.url) as two,
            one.track("p.room10", "ann", ttl=1) as ann,
        ):
            original = two.publish

            async def lose_presence_diffs(channel: str, message: str | bytes) -> None:
                if channel != presence_channel("p.room10"):
                    await original(channel, message)

            two.publish = lose_presence_diffs  # type: ignore[method-assign]
            async with two.track("p.room10", "bob", ttl=1):
                diff = await next_diff(ann, within=3)  # within a heartbeat (ttl / 4)
                assert diff.joins == {"bob": [None]}
            assert (await next_diff(ann, within=3)).leaves == {"bob": [None]}


async def test_a_shorter_ttl_joining_a_process_shortens_its_heartbeat(
    redis_server: RedisServer,
) -> None:
    """A 1 s tracker joins a process whose other tracker has 30 s (a 7.5 s heartbeat): the
    process beats every 0.25 s from then on, so the other process never prunes it."""
    with trio.fail_after(15):
        async with (
            trio_ws.Broadcast(redis_server.url) as one,
            trio_ws.Broadcast(redis_server.url) as two,
            one.track("p.room13", "slow", ttl=30),
            one.track("p.room13", "ann", ttl=1),
            two.track("p.room13", "bob", ttl=1) as bob,
        ):
            assert set(bob.list()) == {"slow", "ann", "bob"}
            await trio.sleep(3)  # three TTLs of ann: what is tested is that nothing happens
            assert set(bob.list()) == {"slow", "ann", "bob"}
            assert bob.statistics().delivered + bob.statistics().buffered == 0


@outage_test
async def test_track_while_redis_is_down_raises_broadcast_unavailable(
    own_redis_server: RedisServer,
) -> None:
    with trio.fail_after(15):
        async with trio_ws.Broadcast(own_redis_server.url, connect_timeout=1) as broadcast:
            own_redis_server.stop()
            with pytest.raises(trio_ws.BroadcastUnavailable):
                async with broadcast.track("p.room11", "ann"):
                    pytest.fail("entered the block while Redis is down")


@outage_test
async def test_members_come_back_after_a_redis_restart_that_lost_them(
    own_redis_server: RedisServer,
) -> None:
    """Redis restarts empty (no persistence): each process re-announces its members."""
    with trio.fail_after(30):
        async with (
            trio_ws.Broadcast(own_redis_server.url) as one,
            trio_ws.Broadcast(own_redis_server.url) as two,
            one.track("p.room12", "ann", ttl=1) as ann,
            two.track("p.room12", "bob", ttl=1) as bob,
        ):
            await wait_until(lambda: ann.list() == bob.list())
            own_redis_server.stop()
            own_redis_server.start()
            reply = own_redis_server.command("HLEN", "trio_ws:presence:{p.room12}:members")
            assert reply == b":0\r\n"  # the restart did lose them
            await wait_until(
                lambda: (
                    own_redis_server.command("HLEN", "trio_ws:presence:{p.room12}:members")
                    == b":2\r\n"
                )
            )
            await wait_until(lambda: ann.list() == bob.list() == {"ann": [None], "bob": [None]})


_CRASHING_WORKER = """
import os, sys, trio, trio_ws

async def main(url, ttl):
    async with trio_ws.Broadcast(url) as broadcast:
        async with broadcast.track("p.crash", "ghost", {"pid": os.getpid()}, ttl=ttl):
            print("tracking", flush=True)
            await trio.sleep_forever()

trio.run(main, sys.argv[1], float(sys.argv[2]))
"""


def start_worker(url: str, ttl: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _CRASHING_WORKER, url, str(ttl)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )


async def test_a_killed_process_members_leave_within_the_ttl(redis_server: RedisServer) -> None:
    ttl = 2.0
    with trio.fail_after(30):
        async with (
            trio_ws.Broadcast(redis_server.url) as broadcast,
            broadcast.track("p.crash", "watcher", ttl=ttl) as watcher,
        ):
            worker = start_worker(redis_server.url, ttl)
            try:
                assert worker.stdout is not None
                line = await trio.to_thread.run_sync(worker.stdout.readline)
                assert line == b"tracking\n"
                joined = await next_diff(watcher)
                assert joined.joins == {"ghost": [{"pid": worker.pid}]}
                os.kill(worker.pid, signal.SIGKILL)
                await trio.to_thread.run_sync(worker.wait)
                killed_at = trio.current_time()
                left = await next_diff(watcher, within=ttl + 5)
                waited = trio.current_time() - killed_at
            finally:
                if worker.poll() is None:
                    worker.kill()
                worker.wait(timeout=10)
                assert worker.stdout is not None
                worker.stdout.close()
            assert left == PresenceDiff(joins={}, leaves={"ghost": [{"pid": worker.pid}]})
            assert waited < ttl, f"the killed member left after {waited:.2f} s (ttl {ttl} s)"
            assert watcher.list() == {"watcher": [None]}
            stored = redis_server.command("HLEN", "trio_ws:presence:{p.crash}:members")
            assert stored == b":1\r\n"


# ---------------------------------------------------------------- the replica's rules


def _m(ref: str, version: int, key: str = "k") -> Member:
    return Member(ref, version, key, {"ref": ref})


def test_replica_ignores_late_and_repeated_changes() -> None:
    replica = Replica()
    assert replica.apply("e1", [_m("a", 1)], []) is None  # no snapshot yet: ask for one
    assert replica.apply_snapshot("e1", 1, [_m("a", 1)]) == ([_m("a", 1)], [])
    assert replica.apply("e1", [_m("b", 2)], []) == ([_m("b", 2)], [])
    assert replica.apply("e1", [_m("b", 2)], []) == ([], [])  # repeated
    # b's leave (3) arrives before c's join (4)... and then b's join again: ignored
    assert replica.apply("e1", [], [_m("b", 3)]) == ([], [_m("b", 2)])
    assert replica.apply("e1", [_m("b", 2)], []) == ([], [])
    assert replica.members() == {"k": [{"ref": "a"}]}


def test_replica_snapshot_drops_what_it_lacks_and_keeps_newer_changes() -> None:
    replica = Replica()
    replica.apply_snapshot("e1", 2, [_m("a", 1), _m("b", 2)])
    replica.apply("e1", [_m("c", 4)], [])  # newer than the next snapshot
    joins, leaves = replica.apply_snapshot("e1", 3, [_m("a", 1)])  # b left at 3
    assert (joins, leaves) == ([], [_m("b", 2)])
    assert replica.refs() == {"a", "c"}
    assert replica.apply_snapshot("e1", 2, []) == ([], [])  # older than the floor: ignored
    assert replica.apply("e1", [_m("b", 2)], []) == ([], [])  # under the floor: ignored


def test_replica_follows_a_new_epoch_from_its_snapshot() -> None:
    replica = Replica()
    replica.apply_snapshot("e1", 9, [_m("a", 8), _m("b", 9)])
    assert replica.apply("e2", [_m("c", 1)], []) is None
    joins, leaves = replica.apply_snapshot("e2", 2, [_m("a", 2), _m("c", 1)])
    assert [m.ref for m in joins] == ["c"]
    assert [m.ref for m in leaves] == ["b"]
    assert replica.refs() == {"a", "c"}


# ---------------------------------------------------------------- the store on a Redis Cluster


@coredis_leaks_streams_of_failed_connections  # RedisCluster's node pools, at exit
@pytest.mark.usefixtures("_collect_garbage")
async def test_the_redis_store_works_on_a_cluster_in_the_channels_slot(
    redis_cluster: LocalCluster,
) -> None:
    """The one Lua script runs on a real 3-master cluster: a channel's three keys hash to the
    channel's own slot (its name is the hash tag), so channels on different masters work."""
    import coredis

    from trio_ws.broadcast._presence_redis import RedisPresenceStore, presence_keys
    from trio_ws.broadcast._presence_store import StoreRequest, Upsert, encode_entry

    seed = redis_cluster.masters()[0]
    for odd in ("}p{", "{}", "p.{x}y", "p{"):  # braces would cut the tag short or empty it
        assert len({redis_cluster.slot_of(key) for key in presence_keys(odd)}) == 1, odd
    channels = ["p.cluster.a", "p.cluster.b", "p.cluster.c", "p.cluster.d", "}p.cluster{"]
    owners = {redis_cluster.owner_of(channel).address for channel in channels}
    assert len(owners) > 1, "pick channel names that spread over the masters"
    with trio.fail_after(20):
        client: Any = coredis.RedisCluster("127.0.0.1", seed.port, decode_responses=False)
        async with client:
            store = RedisPresenceStore(client, redis_cluster.url, 5.0)
            for channel in channels:
                slot = redis_cluster.slot_of(channel)  # the shard channel's slot too
                if "{" not in channel:
                    assert {redis_cluster.slot_of(key) for key in presence_keys(channel)} == {slot}
                join = Upsert("r1", 10.0, encode_entry("ann", {"c": channel}))
                reply = await store.sync(channel, StoreRequest(upsert=[join], snapshot=True))
                assert [m.key for m in reply.joins] == ["ann"]
                assert reply.snapshot is not None
                assert [(m.ref, m.meta) for m in reply.snapshot] == [("r1", {"c": channel})]
                owner = redis_cluster.owner_of(presence_keys(channel)[0])
                assert owner.command("HLEN", presence_keys(channel)[0]).strip() == "1"
                reply = await store.sync(channel, StoreRequest(remove=["r1"]))
                assert [(m.key, m.version) for m in reply.leaves] == [("ann", 2)]
                assert owner.command("EXISTS", presence_keys(channel)[0]).strip() == "0"


def test_replica_reports_an_update_as_a_leave_and_a_join_and_a_bare_rejoin_as_nothing() -> None:
    replica = Replica()
    replica.apply_snapshot("e1", 1, [_m("a", 1)])
    updated = Member("a", 2, "k", {"ref": "a", "status": "new"})
    assert replica.apply("e1", [updated], []) == ([updated], [_m("a", 1)])
    assert replica.apply("e1", [Member("a", 3, "k", updated.meta)], []) == ([], [])


@outage_test
async def test_trackers_waiting_for_a_failed_start_each_get_broadcast_unavailable(
    own_redis_server: RedisServer,
) -> None:
    """Two trackers enter one channel while Redis is down: both fail, none hangs, and the
    channel works for the next tracker once Redis is back."""
    with trio.fail_after(20):
        async with trio_ws.Broadcast(own_redis_server.url, connect_timeout=1) as broadcast:
            own_redis_server.stop()
            errors: list[BaseException] = []

            async def enter(key: str) -> None:
                try:
                    async with broadcast.track("p.down", key):
                        pass
                except trio_ws.BroadcastUnavailable as error:
                    errors.append(error)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(enter, "ann")
                nursery.start_soon(enter, "bob")
            assert len(errors) == 2
            assert errors[0] is not errors[1]
            own_redis_server.start()
            async with broadcast.track("p.down", "carl") as carl:
                assert carl.list() == {"carl": [None]}

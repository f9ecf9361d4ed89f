"""The coredis internals the cluster backend relies on, pinned (written against coredis 6.9).

``trio_ws/broadcast/_redis_cluster.py`` reaches into two private parts of coredis'
``ClusterLayout`` (its module docstring says why):

* ``ClusterLayout._refresh()``: re-read which master owns which slot, now (coredis itself
  refreshes only after many errors, so a subscription would keep dialling a dead master);
* ``ClusterLayout._error_stream``: the pair of anyio memory streams coredis never closes,
  closed by the backend when its client is closed for good (an unclosed one warns when
  collected).

It also shows ``ShardedPubSub`` a pool of its own (``_ReleasingPool``), which works only while
``ShardedPubSub.run`` takes its masters from ``connection_pool.cluster_layout.primaries`` and
its connections from ``connection_pool.acquire(node=...)``.

Each test fails with a message naming what changed, so that a coredis upgrade that breaks
the backend is caught here first, and one that makes a work-around unneeded says so.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from typing import TYPE_CHECKING, Any

import anyio
import anyio.streams.memory
import coredis
import pytest
import trio

from trio_ws import Broadcast
from trio_ws._repeated import RepeatedCondition
from trio_ws.broadcast._redis import _Link
from trio_ws.broadcast._redis_cluster import RedisClusterBackend

from ._support import assert_round_trip

if TYPE_CHECKING:
    from ._cluster import LocalCluster


def changed(what: str) -> str:
    return (
        f"coredis {coredis.__version__} changed {what}, which "
        "trio_ws/broadcast/_redis_cluster.py relies on (written against coredis 6.9): adapt the "
        "cluster backend (and this test) to the new coredis"
    )


def cluster_backend(broadcast: Broadcast) -> RedisClusterBackend:
    backend = broadcast._backend
    assert isinstance(backend, RedisClusterBackend)
    return backend


def layout_class() -> type[Any]:
    """coredis' ``ClusterLayout`` (the class of ``connection_pool.cluster_layout``)."""
    try:
        from coredis.cluster._layout import ClusterLayout
    except ImportError as error:
        pytest.fail(changed(f"where ClusterLayout lives ({error})"))
    return ClusterLayout


def test_the_layout_has_a_refresh_coroutine_taking_no_argument() -> None:
    refresh = getattr(layout_class(), "_refresh", None)
    assert refresh is not None, changed("ClusterLayout: it has no _refresh method any more")
    assert inspect.iscoroutinefunction(refresh), changed("ClusterLayout._refresh: not async")
    assert list(inspect.signature(refresh).parameters) == ["self"], changed(
        f"ClusterLayout._refresh's parameters: {inspect.signature(refresh)}"
    )


def empty_slot(cluster: LocalCluster) -> tuple[int, str]:
    """A slot that holds no key (so that moving it migrates nothing), and a key in it."""
    for n in range(1000):
        key = f"pin-{n}"
        slot = cluster.slot_of(key)
        owner = cluster.owner_of(key)
        if owner.command("CLUSTER", "COUNTKEYSINSLOT", str(slot)).strip() == "0":
            return slot, key
    raise LookupError("no empty slot among 1,000 keys")


async def test_refresh_reads_the_slot_owners_again(redis_cluster: LocalCluster) -> None:
    cluster = redis_cluster
    slot, key = empty_slot(cluster)
    source = cluster.owner_of(key)
    target = next(node for node in cluster.masters() if node is not source)

    def give_slot_to(node_id: str) -> None:
        for node in cluster.masters():
            node.command("CLUSTER", "SETSLOT", str(slot), "NODE", node_id)

    with trio.fail_after(40):
        async with Broadcast(cluster.url, connect_timeout=5) as broadcast:
            layout: Any = cluster_backend(broadcast)._layout()
            assert isinstance(layout, layout_class()), changed(
                f"the cluster pool's cluster_layout (now a {type(layout).__name__})"
            )
            assert layout.node_for_slot(slot, primary=True).node_id == source.node_id()
            try:
                await trio.to_thread.run_sync(give_slot_to, target.node_id())
                # _refresh asks one node, which may be a replica that learns of the move by
                # gossip a moment later: read again (a _refresh that never re-reads never sees it)
                with trio.move_on_after(10):
                    await layout._refresh()
                    while layout.node_for_slot(slot, primary=True).node_id != target.node_id():
                        await trio.sleep(0.1)
                        await layout._refresh()
                assert layout.node_for_slot(slot, primary=True).node_id == target.node_id(), (
                    changed("ClusterLayout._refresh: it no longer re-reads the slots' owners")
                )
            finally:
                await trio.to_thread.run_sync(give_slot_to, source.node_id())
            with trio.move_on_after(10):
                await layout._refresh()
                while layout.node_for_slot(slot, primary=True).node_id != source.node_id():
                    await trio.sleep(0.1)
                    await layout._refresh()
            assert layout.node_for_slot(slot, primary=True).node_id == source.node_id()


def is_open(stream: Any) -> bool:
    """Whether an anyio memory object stream (either end) is still open."""
    try:
        clone = stream.clone()
    except anyio.ClosedResourceError:
        return False
    clone.close()
    return True


async def test_coredis_leaves_the_error_stream_open_and_the_backend_closes_it(
    redis_cluster: LocalCluster,
) -> None:
    with trio.fail_after(30):
        async with Broadcast(redis_cluster.url, connect_timeout=5) as broadcast:
            backend = cluster_backend(broadcast)
            streams = getattr(backend._layout(), "_error_stream", None)
            assert streams is not None, changed("ClusterLayout: no _error_stream any more")
            assert len(streams) == 2, changed("ClusterLayout._error_stream (not a stream pair)")
            send, receive = streams
            assert isinstance(send, anyio.streams.memory.MemoryObjectSendStream), changed(
                f"ClusterLayout._error_stream's send end (a {type(send).__name__})"
            )
            assert isinstance(receive, anyio.streams.memory.MemoryObjectReceiveStream), changed(
                f"ClusterLayout._error_stream's receive end (a {type(receive).__name__})"
            )
            # what coredis does with its own client: the streams outlive it
            async with backend._new_client() as client:
                alone = client.connection_pool.cluster_layout._error_stream
            assert all(is_open(stream) for stream in alone), (
                f"coredis {coredis.__version__} now closes ClusterLayout._error_stream when its "
                "client closes: RedisClusterBackend._client_closed is no longer needed"
            )
            for stream in alone:
                stream.close()
            assert [is_open(send), is_open(receive)] == [True, True]
        assert [is_open(send), is_open(receive)] == [False, False]  # the backend closed them


async def test_a_sharded_pubsub_takes_its_masters_and_connections_from_our_pool(
    redis_cluster: LocalCluster,
) -> None:
    master = redis_cluster.owner_of("pinned-room")  # (a master for the whole test)
    with trio.fail_after(30):
        async with Broadcast(redis_cluster.url, connect_timeout=5) as broadcast:
            backend = cluster_backend(broadcast)
            link = _Link(master.node_id(), RepeatedCondition(logging.getLogger(__name__), "pin"))
            acquired: list[Any] = []
            async with contextlib.AsyncExitStack() as connections:
                pubsub_cm: Any = backend._make_pubsub(connections, link)
                pool = pubsub_cm.connection_pool
                real_acquire = pool.acquire

                def spy(**options: Any) -> Any:
                    acquired.append(options.get("node"))
                    return real_acquire(**options)

                pool.acquire = spy
                async with pubsub_cm as pubsub:
                    assert list(pubsub.shard_connections) == [master.node_id()], changed(
                        "ShardedPubSub.run: it no longer opens one connection per master of "
                        "connection_pool.cluster_layout.primaries"
                    )
            assert [node.node_id for node in acquired] == [master.node_id()], changed(
                "ShardedPubSub.run: it no longer acquires through connection_pool.acquire(node=)"
            )
            async with broadcast.subscribe("pinned-room") as subscriber:
                await assert_round_trip(broadcast, subscriber, "pinned-room", "still works")

"""``RedisClusterBackend``: the bus of ``Broadcast("redis-cluster://host:port")``.

The single-Redis backend with sharded pub/sub (Redis 7): ``SPUBLISH`` routes a message only to
the master that owns its channel's slot, and the process holds one subscription connection per
master (coredis' ``ShardedPubSub``), fanned out locally by the hub as on one Redis.

What differs from `RedisBackend`, and the coredis behaviour it relies on
(``tests/broadcast/test_cluster.py`` tests it; ``tests/broadcast/test_coredis_internals.py``
pins the private parts of coredis 6.9 named below, with a message saying what changed):

* ``RedisCluster.from_url`` with any node as the seed discovers the others (``CLUSTER
  SLOTS``); commands follow ``MOVED`` and ``ASK`` redirections themselves.
* History streams are named ``trio_ws:history:{<tag>}`` where the hash tag makes the key hash
  to the channel's slot, so that one script on one master adds the entry and publishes it.
* coredis refreshes its map of the cluster only after many errors; after a failover the
  subscription would keep dialling the dead master. The layout is refreshed before every
  renewal of the subscription and after a failed publish (``ClusterLayout._refresh``, a
  private method: pinned by a test). Each refresh wakes the links, which take on the
  channels whose slots came to their master.
* ``ShardedPubSub`` keeps one connection per master in one task group: a master that fails
  ends the whole object. So the backend keeps one ``ShardedPubSub`` per master, each shown a
  layout with that master alone (`_OneMasterLayout`), each renewed on its own: a master that
  fails costs a gap to the channels of its slots only. A master that appears (a replica
  promoted) gets its link when the layout is next refreshed, and takes on the channels of
  its slots, healed from history.
* coredis' ``ClusterLayout`` never closes its error stream; it is closed here when the client
  is closed for good.
* coredis 6.9's cluster pipeline serves its masters one after another (writes to one, reads
  its answers, then goes to the next). A batch of publishes is split by master here, each
  master's part sent as its own pipeline, all at once (`RedisClusterBackend._send_publishes`):
  one round trip per batch, and a master that fails refuses its own publishes only.
* When a slot moves to another master, Redis unsubscribes the slot's channels by itself
  (an unsolicited ``sunsubscribe``); coredis forgets the channel. The drain task watches for
  that and renews the subscription, as after an outage.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, final
from urllib.parse import unquote, urlsplit

import coredis
import coredis.exceptions
import trio
from coredis._utils import hash_slot
from coredis.connection import TCPLocation
from coredis.retry import NoRetryPolicy

from .._repeated import RepeatedCondition
from ._exceptions import first_leaf
from ._redis import (
    _PUBLISH_WITH_HISTORY_TEMPLATE,
    _STREAM_PREFIX,
    RedisBackend,
    _describe,
    _interruption,
    _is_link_error,
    _Link,
)

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Sequence

    from ._hub import Hub

__all__ = ["RedisClusterBackend", "stream_key"]

logger = logging.getLogger("trio_ws.broadcast")

_PUBLISH_WITH_HISTORY = _PUBLISH_WITH_HISTORY_TEMPLATE % "SPUBLISH"
#: The fewest seconds between two refreshes of the cluster's layout.
_REFRESH_INTERVAL = 0.2


def _hashed_part(name: str) -> str:
    """The part of ``name`` Redis hashes to find its slot (its hash tag, if it has one)."""
    start = name.find("{")
    if start >= 0:
        end = name.find("}", start + 1)
        if end > start + 1:
            return name[start + 1 : end]
    return name


def stream_key(channel: str) -> str:
    """The name of ``channel``'s history stream: a key in the channel's own slot.

    Usually ``trio_ws:history:{<channel>}``; a channel whose hashed part contains ``}``
    cannot be written inside braces, so its tag is the shortest number with the same slot.
    """
    tag = _hashed_part(channel)
    if "}" in tag:
        slot = hash_slot(tag.encode())
        tag = next(str(n) for n in range(1 << 20) if hash_slot(str(n).encode()) == slot)
    return f"{_STREAM_PREFIX}{{{tag}}}"


@final
class _Acquired:
    """A pool's ``acquire(...)`` context whose exit belongs to an exit stack, not its user."""

    def __init__(
        self,
        acquire: contextlib.AbstractAsyncContextManager[Any],
        owner: contextlib.AsyncExitStack,
    ) -> None:
        self._acquire = acquire
        self._owner = owner

    async def __aenter__(self) -> Any:
        return await self._owner.enter_async_context(self._acquire)

    async def __aexit__(self, *exc_info: object) -> None:
        await trio.lowlevel.checkpoint()  # released when the owner closes


@final
class _ReleasingPool:
    """A cluster connection pool seen through ``ShardedPubSub``: every connection it acquires
    is released when ``owner`` closes.

    coredis 6.9's ``ShardedPubSub.run`` enters one ``pool.acquire(node=...)`` per master on an
    ``AsyncExitStack`` it never closes, so those connections would never go back to the pool
    (and their generators warn when collected). Everything else goes to the real pool.
    """

    def __init__(self, pool: Any, owner: contextlib.AsyncExitStack, master: Any) -> None:
        self._pool = pool
        self._owner = owner
        self.cluster_layout = _OneMasterLayout(pool.cluster_layout, master)

    def acquire(self, **options: Any) -> _Acquired:
        return _Acquired(self._pool.acquire(**options), self._owner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


@final
class _OneMasterLayout:
    """The cluster's layout as ``ShardedPubSub`` sees it: ``master`` as the only master.

    ``ShardedPubSub.run`` opens one connection per master in ``primaries`` and fails as a
    whole when one of them does; given one master each, the backend keeps one pub/sub per
    master, and a master that fails costs only its own channels a gap. Everything else (which
    node owns a slot) is the real layout's answer.
    """

    def __init__(self, layout: Any, master: Any) -> None:
        self._layout = layout
        self._master = master

    @property
    def primaries(self) -> list[Any]:
        return [self._master]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._layout, name)


@final
class RedisClusterBackend(RedisBackend):
    """`RedisBackend` on a Redis Cluster, with sharded pub/sub."""

    _DRAIN_READS_UNSUBSCRIBES = True

    def __init__(self, url: str, hub: Hub, history: int, connect_timeout: float) -> None:
        super().__init__(url, hub, history, connect_timeout)
        self._last_refresh = -float("inf")
        self._refresh_wanted = trio.Event()
        self._layout_changed = trio.Event()  # set (and replaced) after each refresh
        #: Link key -> a channel that master dropped by itself (its slot moved), until the
        #: link's renewal has seen a layout where that slot has another owner.
        self._dropped: dict[str, str] = {}

    def _new_client(self) -> Any:
        # not RedisCluster.from_url: coredis 6.9 builds its seed with a deprecated class there
        parts = urlsplit(self._url)
        if parts.path not in ("", "/") or parts.query:
            raise ValueError("a cluster URL has no database number or options")
        return coredis.RedisCluster(
            startup_nodes=[TCPLocation(parts.hostname or "", parts.port or 6379)],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            ssl=parts.scheme == "rediss-cluster",
            decode_responses=False,
            retry_policy=NoRetryPolicy(),
            connect_timeout=self._connect_timeout,
            stream_timeout=self._connect_timeout,
        )

    async def start(self, nursery: trio.Nursery) -> None:
        await super().start(nursery)
        nursery.start_soon(self._refresher)

    async def stop(self) -> None:
        await super().stop()
        self._refresh_wanted.set()  # ends the refresher
        self._layout_changed.set()  # ends the links' steady waits and the supervisor

    # ------------------------------------------------------------------ one link per master

    def _layout(self) -> Any:
        return self._client.connection_pool.cluster_layout

    def _master(self, key: str) -> Any:
        """The master whose node id is ``key`` in the layout now (``None``: not a master)."""
        return next((node for node in self._layout().primaries if node.node_id == key), None)

    def _link_key(self, channel: str) -> str | None:
        try:
            node = self._layout().node_for_slot(hash_slot(channel.encode()), primary=True)
        except (coredis.exceptions.RedisError, KeyError):  # a slot with no owner
            return None
        return node.node_id if node.is_primary else None

    async def _keep_links(self, task_status: trio.TaskStatus[None]) -> None:
        """One link per master; a master that appears (a failover) gets its own at once."""
        async with trio.open_nursery() as nursery:
            started = False
            while not self._stop.is_set():
                changed = self._layout_changed
                for node in self._layout().primaries:
                    key = node.node_id
                    if key and key not in self._links:
                        outage = RepeatedCondition(
                            logger, f"trio_ws: broadcast: Redis at {self._url}, master {node.name}"
                        )
                        await nursery.start(self._keep_link, _Link(key, outage))
                if not started:
                    started = True
                    task_status.started()
                await changed.wait()

    def _make_pubsub(
        self, connections: contextlib.AsyncExitStack, link: _Link
    ) -> contextlib.AbstractAsyncContextManager[Any]:
        master = self._master(link.key)
        if master is None:
            raise coredis.exceptions.ConnectionError(f"node {link.key} is no longer a master")
        # the (un)subscribe confirmations are kept: the drain task watches for the server
        # dropping a channel whose slot moved
        pubsub = self._client.sharded_pubsub(retry_policy=None, ignore_subscribe_messages=False)
        pubsub.connection_pool = _ReleasingPool(pubsub.connection_pool, connections, master)
        cm: contextlib.AbstractAsyncContextManager[Any] = pubsub
        return cm

    async def _steady(self, link: _Link, pubsub: Any) -> None:
        """Take on the channels whose slots came to this master (a failover, a reshard),
        healed like after an outage; raise when this node is no longer a master."""
        while not self._stop.is_set():
            changed = self._layout_changed
            if self._master(link.key) is None:
                raise coredis.exceptions.ConnectionError(f"node {link.key} is no longer a master")
            arrived = [channel for channel in self._channels_of(link)
                       if channel not in link.channels]  # fmt: skip
            if arrived:
                link.channels.update(arrived)
                self._start_healing(arrived)
                await self._subscribe(pubsub, arrived)
                await self._heal(arrived)
            await changed.wait()

    async def _subscribe(self, pubsub: Any, channels: list[str]) -> None:
        try:
            await pubsub.subscribe(**dict.fromkeys(channels, self._on_message))
        except KeyError as error:  # a slot's owner is not among the connections' masters
            raise coredis.exceptions.ConnectionError(
                f"the cluster's layout changed under the subscription ({error})"
            ) from error

    async def _before_renewal(self, link: _Link) -> bool:
        await self._refresh_layout()
        dropped = self._dropped.pop(link.key, None)
        if dropped is not None:
            # The master itself dropped ``dropped``: its slot has moved. A layout that still
            # gives the slot to this master was read from a node that has not learned of the
            # move yet (gossip takes a moment after a failover); renewing on it would subscribe
            # on a node that is no longer the slot's master. Ask again (paced by
            # `_refresh_layout`), for at most ``connect_timeout``.
            with trio.move_on_after(self._connect_timeout):
                while self._link_key(dropped) == link.key:
                    await self._refresh_layout()
        if self._master(link.key) is not None:
            return True
        # a failover (or a reshard) took this node's slots: the link retires, and its outage
        # ends here, as the links of the slots' new masters take its channels on
        link.outage.ended(f"no longer a master, {self._new_homes(link)}")
        return False

    def _new_homes(self, link: _Link) -> str:
        """Where the channels ``link`` carried go now, for the log."""
        masters = {node.node_id: node.name for node in self._layout().primaries}
        homes = sorted({masters.get(self._link_key(channel) or "", "no master yet")
                        for channel in link.channels})  # fmt: skip
        if not homes:
            return "it carried no channel"
        return f"its channels go to {', '.join(homes)}"

    def _client_closed(self) -> None:
        # coredis 6.9's ClusterLayout never closes the stream its monitor reads errors from
        for stream in self._client.connection_pool.cluster_layout._error_stream:
            stream.close()

    def _publish_failed(self) -> None:
        self._refresh_wanted.set()

    def _stream_key(self, channel: str) -> str:
        return stream_key(channel)

    _publish_script = _PUBLISH_WITH_HISTORY

    async def _send_publishes(
        self, items: Sequence[tuple[str, bytes]]
    ) -> list[BaseException | None]:
        """One pipeline per master, the masters' pipelines at the same time; each publish's
        own outcome.

        coredis 6.9's cluster pipeline serves its masters one after another (it writes to one,
        reads its answers, then goes to the next): a batch over three masters would wait for
        three round trips in a row. Here each master gets its own pipeline (one round trip,
        its commands in order: a channel's messages all go to its slot's master), all sent
        at once; the batch ends when every master has answered, so the next batch of a
        channel never overtakes this one. A master that fails or does not answer within
        ``connect_timeout`` refuses its own publishes only.

        Raises:
          What is not an error of the link (one error, never a group); one master's
          pipeline, when the batch has one master: as `RedisBackend._send_publishes`.

        Cancellation:
          Every master's pipeline is cancelled; each may or may not have been run.
        """
        groups = self._by_master(items)
        if len(groups) <= 1:
            return await super()._send_publishes(items)
        outcomes: list[BaseException | None] = [None] * len(items)

        async def send(indexes: list[int]) -> None:
            try:
                results = await RedisBackend._send_publishes(self, [items[i] for i in indexes])
            except Exception as error:
                if not _is_link_error(error):
                    raise
                results = [error] * len(indexes)
            for index, result in zip(indexes, results, strict=True):
                outcomes[index] = result

        try:
            async with trio.open_nursery() as nursery:
                for indexes in groups:
                    nursery.start_soon(send, indexes)
        except BaseExceptionGroup as group:
            # a cancellation goes on before an error; one of them, unwrapped
            raise first_leaf(_interruption(group) or group) from None
        return outcomes

    def _by_master(self, items: Sequence[tuple[str, bytes]]) -> list[list[int]]:
        """The indexes of ``items`` grouped by the master of their channel (in order; the
        channels whose slot has no master now form one more group, coredis' to route)."""
        keys: dict[str, str | None] = {}
        groups: dict[str | None, list[int]] = {}
        for index, (channel, _payload) in enumerate(items):
            if channel in keys:
                key = keys[channel]
            else:
                key = keys[channel] = self._link_key(channel)
            groups.setdefault(key, []).append(index)
        return list(groups.values())

    def _publish_request(self, target: Any, channel: str, payload: bytes) -> Any:
        # a pipeline holds one master's commands here (see _send_publishes)
        if self._history:
            return super()._publish_request(target, channel, payload)
        return target.spublish(channel, b" " + payload)

    async def _drain(self, link: _Link, pubsub: Any) -> None:
        """Empty the pubsub's queue; a channel the server dropped by itself renews the link.

        A ``sunsubscribe`` that answers one of our unsubscribes (counted in
        ``link.unsubscribing``, as it may be read after the channel was subscribed again) is
        not a drop.

        Raises:
          coredis.exceptions.ConnectionError: a subscribed channel was dropped by the server
            (its slot moved): the subscription loop renews this master's link.
        """
        while True:
            message = await pubsub.get_message()
            if message is None or message["type"] != "sunsubscribe":
                continue
            raw = message["channel"]
            channel = raw.decode() if isinstance(raw, bytes) else raw
            expected = link.unsubscribing.pop(channel, 0)
            if expected > 1:
                link.unsubscribing[channel] = expected - 1
            if not expected and self._hub.subscribers(channel) and not self._stop.is_set():
                self._dropped[link.key] = channel
                raise coredis.exceptions.ConnectionError(
                    f"the cluster dropped the subscription of {channel!r} (its slot moved)"
                )

    async def _refresher(self) -> None:
        """Refresh the layout when a publish failed (at most every `_REFRESH_INTERVAL`)."""
        while True:
            await self._refresh_wanted.wait()
            if self._stop.is_set():
                return
            self._refresh_wanted = trio.Event()
            await self._refresh_layout()

    async def _refresh_layout(self) -> None:
        """Ask the cluster which master owns which slots now (errors are contained)."""
        wait = self._last_refresh + _REFRESH_INTERVAL - trio.current_time()
        if wait > 0:
            await trio.sleep(wait)
        self._last_refresh = trio.current_time()
        try:
            with trio.fail_after(self._connect_timeout):
                await self._client.connection_pool.cluster_layout._refresh()
        except Exception as error:
            if not _is_link_error(error):
                raise
            logger.info("cannot refresh the Redis Cluster layout yet: %s", _describe(error))
            return
        self._layout_changed.set()
        self._layout_changed = trio.Event()

"""``RedisClusterBackend``: the bus of ``Broadcast("redis-cluster://host:port")``.

The single-Redis backend with sharded pub/sub (Redis 7): ``SPUBLISH`` routes a message only to
the master that owns its channel's slot, and the process holds one subscription connection per
master (coredis' ``ShardedPubSub``), fanned out locally by the hub as on one Redis.

What differs from `RedisBackend`, and the coredis behaviour it relies on
(``tests/broadcast/test_cluster.py`` pins it):

* ``RedisCluster.from_url`` with any node as the seed discovers the others (``CLUSTER
  SLOTS``); commands follow ``MOVED`` and ``ASK`` redirections themselves.
* History streams are named ``trio_ws:history:{<tag>}`` where the hash tag makes the key hash
  to the channel's slot, so that one script on one master adds the entry and publishes it.
* coredis refreshes its map of the cluster only after many errors; after a failover the
  subscription would keep dialling the dead master. The layout is refreshed before every
  renewal of the subscription and after a failed publish (``ClusterLayout._refresh``, a
  private method: pinned by a test).
* ``ShardedPubSub`` keeps one connection per master in one task group: a master that fails
  ends the whole object, so every shard's subscription is renewed (and healed from history).
* coredis' ``ClusterLayout`` never closes its error stream; it is closed here when the client
  is closed for good.
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

from ._redis import (
    _PUBLISH_WITH_HISTORY_TEMPLATE,
    _STREAM_PREFIX,
    RedisBackend,
    _describe,
    _is_link_error,
)

if TYPE_CHECKING:
    import contextlib

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

    def __init__(self, pool: Any, owner: contextlib.AsyncExitStack) -> None:
        self._pool = pool
        self._owner = owner

    def acquire(self, **options: Any) -> _Acquired:
        return _Acquired(self._pool.acquire(**options), self._owner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


@final
class RedisClusterBackend(RedisBackend):
    """`RedisBackend` on a Redis Cluster, with sharded pub/sub."""

    def __init__(self, url: str, hub: Hub, history: int, connect_timeout: float) -> None:
        super().__init__(url, hub, history, connect_timeout)
        self._last_refresh = -float("inf")
        self._refresh_wanted = trio.Event()
        self._unlistening: set[str] = set()

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

    def _make_pubsub(
        self, connections: contextlib.AsyncExitStack
    ) -> contextlib.AbstractAsyncContextManager[Any]:
        # the (un)subscribe confirmations are kept: the drain task watches for the server
        # dropping a channel whose slot moved
        pubsub = self._client.sharded_pubsub(retry_policy=None, ignore_subscribe_messages=False)
        pubsub.connection_pool = _ReleasingPool(pubsub.connection_pool, connections)
        cm: contextlib.AbstractAsyncContextManager[Any] = pubsub
        return cm

    async def _subscribe(self, pubsub: Any, channels: list[str]) -> None:
        try:
            await pubsub.subscribe(**dict.fromkeys(channels, self._on_message))
        except KeyError as error:  # a slot's owner is not among the connections' masters
            raise coredis.exceptions.ConnectionError(
                f"the cluster's layout changed under the subscription ({error})"
            ) from error

    async def _before_renewal(self) -> None:
        await self._refresh_layout()

    def _client_closed(self) -> None:
        # coredis 6.9's ClusterLayout never closes the stream its monitor reads errors from
        for stream in self._client.connection_pool.cluster_layout._error_stream:
            stream.close()

    def _publish_failed(self) -> None:
        self._refresh_wanted.set()

    def _stream_key(self, channel: str) -> str:
        return stream_key(channel)

    _publish_script = _PUBLISH_WITH_HISTORY

    def _publish_request(self, target: Any, channel: str, payload: bytes) -> Any:
        # coredis' cluster pipeline sends each master its commands in order, in one round trip
        if self._history:
            return super()._publish_request(target, channel, payload)
        return target.spublish(channel, b" " + payload)

    async def _drain(self, pubsub: Any) -> None:
        """Empty the pubsub's queue; a channel the server dropped by itself renews the link.

        Raises:
          coredis.exceptions.ConnectionError: a subscribed channel was dropped by the server
            (its slot moved): the subscription loop renews every subscription.
        """
        while True:
            message = await pubsub.get_message()
            if message is None or message["type"] != "sunsubscribe":
                continue
            raw = message["channel"]
            channel = raw.decode() if isinstance(raw, bytes) else raw
            if channel not in self._unlistening and self._hub.subscribers(channel):
                raise coredis.exceptions.ConnectionError(
                    f"the cluster dropped the subscription of {channel!r} (its slot moved)"
                )

    async def unlisten(self, channel: str) -> None:
        self._unlistening.add(channel)
        try:
            await super().unlisten(channel)
        finally:
            self._unlistening.discard(channel)

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

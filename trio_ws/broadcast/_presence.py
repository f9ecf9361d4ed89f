"""Presence: who is in a channel, across every process, kept alive by heartbeats.

``broadcast.track(channel, key, meta)`` (see `Broadcast.track`) enters `track` here. Per
broadcast and channel, this process keeps one `_ChannelPresence`, shared by all its local
trackers of the channel:

* a `Replica` of the channel's member table (``_presence_replica``), which is what
  `Presence.list` reads;
* a subscription to the broadcast channel ``trio_ws:presence:<channel>``, on which every
  process publishes the changes its store calls made (JSON ``{"e": epoch, "j": [[ref,
  version, key, meta], ...], "l": [...]}``);
* a heartbeat task that, every quarter of the shortest local TTL, refreshes the expiry of the
  local entries, prunes expired entries (of crashed processes) and reads the whole table,
  which heals whatever diffs were missed (a `BroadcastGap`, a full buffer) or came out of
  order. A lost link or dropped diffs trigger that heartbeat at once.

Consistency: eventual. A process's own changes are in its list at once; other processes'
changes arrive with their diffs, or at the latest with the next heartbeat. An entry lives
``ttl / 2`` after its last refresh, so a member of a crashed process is pruned by the next
heartbeat of any live process after that: within ``3/4 * ttl`` of its last heartbeat.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import secrets
import weakref
from typing import TYPE_CHECKING, Any, final

import trio

from ._exceptions import BroadcastGap, BroadcastUnavailable
from ._presence_diff import DiffLog, DiffQueue, PresenceDiff, diff_of
from ._presence_replica import Replica
from ._presence_store import (
    Member,
    StoreReply,
    StoreRequest,
    Upsert,
    encode_entry,
    make_store,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from .._options import OverflowPolicy
    from ._broadcast import Broadcast
    from ._presence_store import PresenceStore
    from ._subscriber import Subscriber, SubscriberStatistics

__all__ = ["Presence", "PresenceDiff", "presence_channel", "track"]

logger = logging.getLogger("trio_ws.broadcast")

_POLICIES = ("block", "drop_oldest", "close")
#: How many diffs a process's presence subscription buffers before it resyncs instead.
_DIFF_BUFFER = 1024
#: The most seconds leaving may take before the entry is left to expire.
_LEAVE_TIMEOUT = 2.0


def presence_channel(channel: str) -> str:
    """The broadcast channel on which the presence diffs of ``channel`` travel."""
    return "trio_ws:presence:" + channel


@final
class Presence:
    """One `Broadcast.track` block: this connection's entry, and the channel's members.

    A typical block:

        async with broadcast.track("room", "ann", {"device": "phone"}) as presence:
            print(presence.list())          # {"ann": [{"device": "phone"}], "bob": [...]}
            async for diff in presence.diffs():
                print(diff.joins, diff.leaves)
    """

    __slots__ = ("_channel", "_hub", "_key", "_left", "_lock", "_meta", "_payload", "_queue",
                 "_ref", "_ttl")  # fmt: skip

    def __init__(
        self,
        hub: _ChannelPresence,
        key: str,
        meta: Any,
        payload: str,
        ttl: float,
        queue: DiffQueue,
    ) -> None:
        self._hub = hub
        self._channel = hub.channel
        self._key = key
        self._meta = meta
        self._payload = payload
        self._ttl = ttl
        self._queue = queue
        self._ref = secrets.token_hex(8)
        self._lock = trio.Lock()  # one store call of this entry at a time (join/rejoin/leave)
        self._left = False

    def __repr__(self) -> str:
        state = "left" if self._left else "tracking"
        return f"<Presence {self._channel!r} key={self._key!r} {state}>"

    @property
    def channel(self) -> str:
        """The channel this connection is tracked in."""
        return self._channel

    @property
    def key(self) -> str:
        """The key this connection announced."""
        return self._key

    @property
    def meta(self) -> Any:
        """The meta this connection announced (as JSON gives it back)."""
        return self._meta

    @property
    def ttl(self) -> float:
        """Seconds within which this entry disappears if its process dies."""
        return self._ttl

    def list(self) -> dict[str, list[Any]]:
        """The channel's members now: ``{key: [meta, ...]}``, one meta per connection.

        Includes this connection from the start of the block. Ordered by join time.
        """
        return self._hub.replica.members()

    def diffs(self) -> AsyncIterator[PresenceDiff]:
        """An async iterator of the `PresenceDiff`s after the `list` the block began with.

        One task iterates it; it ends when the block or the broadcast ends. See
        `Broadcast.track` for its buffer and overflow policy.
        """
        return self._queue

    def statistics(self) -> SubscriberStatistics:
        """The counters of the diff buffer (delivered, dropped, buffered, buffer, gaps)."""
        return self._queue.statistics()

    async def update(self, meta: Any) -> None:
        """Replace this connection's meta; every tracker of the channel gets a diff with the
        old meta in ``leaves`` and the new one in ``joins`` (as Phoenix Presence does).

        Raises:
          TypeError: ``meta`` is not JSON-serialisable (nothing changed).
          BroadcastUnavailable: Redis cannot be reached (the old meta may stay announced).
          RuntimeError: the block has ended.

        Cancellation:
          If cancelled, the new meta may or may not have been stored; this process and the
          others agree again at the next heartbeat.
        """
        try:
            payload = encode_entry(self._key, meta)
        except (TypeError, ValueError) as error:
            raise TypeError(f"meta must be JSON-serialisable: {error}") from None
        if self._left or self._ref not in self._hub.trackers:
            raise RuntimeError("this presence's block has ended")
        self._payload, self._meta = payload, json.loads(payload)[1]
        await self._hub.change(self, join=True, rewrite=True)

    def _upsert(self, *, rewrite: bool = False) -> Upsert:
        return Upsert(self._ref, self._ttl / 2, self._payload, rewrite)


@final
class _ChannelPresence:
    """This process's view of one channel's presence, shared by the local trackers."""

    def __init__(self, owner: _Registry, channel: str) -> None:
        self.owner = owner
        self.channel = channel
        self.replica = Replica()
        self.log = DiffLog()  # the diffs of the local trackers, one cursor each
        self._ttls: dict[float, int] = {}  # how many trackers have each ttl
        self.trackers: dict[str, Presence] = {}  # by ref, once joined
        self.users = 0  # trackers entering, tracking or leaving
        self.ready = trio.Event()
        self.error: BaseException | None = None
        self.scope = trio.CancelScope()
        self._wake = trio.Event()  # a resync is wanted, or a tracker joined
        self._resync_wanted = False
        self._unavailable = False  # logged the outage once
        self._outbox: list[tuple[str, list[Member], list[Member]]] = []
        self._outbox_ready = trio.Event()
        self._publishing = trio.Lock()

    @property
    def store(self) -> PresenceStore:
        return self.owner.store

    async def run(self, *, task_status: trio.TaskStatus[BaseException | None]) -> None:
        """Subscribe to the diffs, then pump them and heart-beat until no tracker is left."""
        started = False
        try:
            with self.scope:
                async with self.owner.broadcast.subscribe(
                    presence_channel(self.channel), buffer=_DIFF_BUFFER, overflow="drop_oldest"
                ) as subscriber:
                    started = True
                    task_status.started(None)
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._heartbeats)
                        nursery.start_soon(self._sender)
                        await self._pump(subscriber)
                        nursery.cancel_scope.cancel()
        except Exception as error:
            if not started:
                task_status.started(error)
                return
            logger.exception(
                "presence of %r failed; its trackers stop receiving diffs", self.channel
            )
        finally:
            self.owner.forget(self)
            for tracker in list(self.trackers.values()):
                tracker._queue.end()
        if not started:
            task_status.started(BroadcastUnavailable("the broadcast closed"))

    async def _pump(self, subscriber: Subscriber) -> None:
        dropped = 0
        while True:
            try:
                event = await subscriber.__anext__()
            except StopAsyncIteration:
                return
            except BroadcastGap:
                self._want_resync()
                continue
            if subscriber.statistics().dropped != dropped:
                dropped = subscriber.statistics().dropped
                self._want_resync()
            try:
                data = json.loads(event.message)
                epoch = str(data["e"])
                joins = [Member(str(r), int(v), str(k), m) for r, v, k, m in data["j"]]
                leaves = [Member(str(r), int(v), str(k), m) for r, v, k, m in data["l"]]
            except (ValueError, KeyError, TypeError):
                logger.warning("ignored a malformed presence diff on %r", event.channel)
                continue
            effective = self.replica.apply(epoch, joins, leaves)
            if effective is None:
                self._want_resync()
            else:
                await self._dispatch(*effective)

    def _want_resync(self) -> None:
        for tracker in self.trackers.values():
            tracker._queue.count_gap()
        self._resync_wanted = True
        self._wake.set()

    def _interval(self) -> float:
        return min(self._ttls) / 4 if self._ttls else 1.0

    def register(self, tracker: Presence) -> None:
        """Count ``tracker`` in (joined); the heartbeat now keeps its shorter TTL if it has one."""
        self.trackers[tracker._ref] = tracker
        self._ttls[tracker.ttl] = self._ttls.get(tracker.ttl, 0) + 1
        tracker._queue.attach()
        self._wake.set()

    def unregister(self, tracker: Presence) -> None:
        """The tracker's block is ending: no more diffs for it, no more heartbeats."""
        if self.trackers.pop(tracker._ref, None) is not None:
            left = self._ttls.pop(tracker.ttl) - 1
            if left:
                self._ttls[tracker.ttl] = left
        tracker._queue.end()

    async def _heartbeats(self) -> None:
        last_beat = trio.current_time()  # the first tracker's join has just set its expiry
        while True:
            deadline = last_beat + self._interval()
            with trio.move_on_at(deadline):
                await self._wake.wait()
            self._wake = trio.Event()
            if not self._resync_wanted and trio.current_time() < deadline:
                continue  # a tracker joined: wait again with the interval it may have shortened
            self._resync_wanted = False
            last_beat = trio.current_time()
            refresh = [(ref, tracker.ttl / 2) for ref, tracker in self.trackers.items()]
            try:
                reply = await self.store.sync(
                    self.channel, StoreRequest(refresh=refresh, snapshot=True)
                )
            except BroadcastUnavailable as error:
                if not self._unavailable:
                    self._unavailable = True
                    logger.warning("presence heartbeat of %r failed: %s", self.channel, error)
                continue
            if self._unavailable:
                self._unavailable = False
                logger.warning("presence heartbeat of %r works again", self.channel)
            await self.absorb(reply)
            for ref in reply.missing:  # pruned while alive (a stall, a Redis restart): rejoin
                tracker = self.trackers.get(ref)
                if tracker is not None:
                    with contextlib.suppress(BroadcastUnavailable):
                        await self.change(tracker, join=True)

    async def change(self, tracker: Presence, *, join: bool, rewrite: bool = False) -> None:
        """Add (``join``; ``rewrite``: with its new payload) or remove ``tracker``'s entry.

        The change is applied here and published to the other processes.

        Raises:
          BroadcastUnavailable: the store cannot be reached.
        """
        async with tracker._lock:
            if join:
                if tracker._left:
                    return
                request = StoreRequest(
                    upsert=[tracker._upsert(rewrite=rewrite)], snapshot=self.replica.epoch is None
                )
                reply = await self.store.sync(self.channel, request)
            else:
                tracker._left = True
                reply = await self.store.sync(self.channel, StoreRequest(remove=[tracker._ref]))
        await self.absorb(reply)

    async def absorb(self, reply: StoreReply) -> None:
        """Apply a store reply here, tell the local trackers, and publish its changes."""
        effective = self.replica.apply(reply.epoch, reply.joins, reply.leaves)
        if effective is not None:
            await self._dispatch(*effective)
        if reply.snapshot is not None:
            await self._dispatch(
                *self.replica.apply_snapshot(reply.epoch, reply.version, reply.snapshot)
            )
        elif effective is None:
            self._want_resync()
        if reply.joins or reply.leaves:
            self._outbox.append((reply.epoch, reply.joins, reply.leaves))
            self._outbox_ready.set()

    async def _sender(self) -> None:
        """Publish the changes of this process's store calls, batched while one is in flight.

        One publish carries every change made since the previous one, so churn costs about
        one round trip per batch instead of one per change.
        """
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready = trio.Event()
            await self.flush()

    async def flush(self) -> None:
        """Publish what the outbox holds now (one message per epoch; usually one).

        A change that cannot be published is logged: the other processes read it from the
        table at their next heartbeat.
        """
        async with self._publishing:
            batch, self._outbox = self._outbox, []
            by_epoch: dict[str, tuple[list[Member], list[Member]]] = {}
            for epoch, joins, leaves in batch:
                pending = by_epoch.setdefault(epoch, ([], []))
                pending[0].extend(joins)
                pending[1].extend(leaves)
            for epoch, (joins, leaves) in by_epoch.items():
                message = json.dumps(
                    {
                        "e": epoch,
                        "j": [[m.ref, m.version, m.key, m.meta] for m in joins],
                        "l": [[m.ref, m.version, m.key, m.meta] for m in leaves],
                    },
                    separators=(",", ":"),
                    ensure_ascii=False,
                )
                try:
                    await self.owner.broadcast.publish(presence_channel(self.channel), message)
                except BroadcastUnavailable as error:  # the others catch up at their heartbeat
                    logger.warning("presence diff of %r not published: %s", self.channel, error)

    async def _dispatch(self, joins: list[Member], leaves: list[Member]) -> None:
        diff = diff_of(joins, leaves)
        if diff is None:
            return
        await self.log.append(diff)


@final
class _Registry:
    """The presence of one `Broadcast` in this process: its store and its channels."""

    def __init__(self, broadcast: Broadcast, nursery: trio.Nursery) -> None:
        self.broadcast = broadcast
        self.nursery = nursery
        self.store = make_store(broadcast._backend)
        self.channels: dict[str, _ChannelPresence] = {}

    def forget(self, hub: _ChannelPresence) -> None:
        if self.channels.get(hub.channel) is hub:
            del self.channels[hub.channel]

    async def enter(self, channel: str) -> _ChannelPresence:
        """The channel's presence, started if needed; count one more user of it.

        Raises:
          BroadcastUnavailable: the diff subscription cannot be made.
        """
        hub = self.channels.get(channel)
        if hub is None:
            hub = self.channels[channel] = _ChannelPresence(self, channel)
            hub.users += 1
            try:
                hub.error = await self.nursery.start(hub.run)
            except BaseException as error:  # cancelled while starting, or a closed broadcast
                self.forget(hub)
                hub.error = error
                raise
            finally:
                hub.ready.set()
            if hub.error is not None:
                hub.users -= 1
                raise hub.error
            return hub
        hub.users += 1
        try:
            await hub.ready.wait()
        except BaseException:  # cancelled: the first tracker still counts for itself
            hub.users -= 1
            raise
        if hub.error is not None:  # the first tracker's start failed: each waiter says so
            hub.users -= 1
            raise BroadcastUnavailable(
                f"the presence of {channel!r} could not start: {hub.error}"
            ) from hub.error
        return hub

    async def leave(self, hub: _ChannelPresence) -> None:
        """Count one user less; the last one publishes what is pending and stops the hub.

        Cancellation:
          Shielded, and bounded (two seconds for the last user's publish).
        """
        hub.users -= 1
        if hub.users == 0:
            self.forget(hub)
            try:
                with trio.CancelScope(shield=True), trio.move_on_after(_LEAVE_TIMEOUT):
                    await hub.flush()
            finally:
                hub.scope.cancel()


_registries: weakref.WeakKeyDictionary[Broadcast, _Registry] = weakref.WeakKeyDictionary()


def _registry(broadcast: Broadcast) -> _Registry:
    nursery = broadcast._nursery
    registry = _registries.get(broadcast)
    if registry is None or registry.nursery is not nursery:
        assert nursery is not None
        registry = _registries[broadcast] = _Registry(broadcast, nursery)
    return registry


def _check_ttl(ttl: object) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0.1 <= ttl < math.inf:
        raise ValueError(f"ttl must be a number of seconds >= 0.1, got {ttl!r}")
    return float(ttl)


@contextlib.asynccontextmanager
async def track(
    broadcast: Broadcast,
    channel: str,
    key: str,
    meta: Any,
    *,
    ttl: float,
    buffer: int,
    overflow: OverflowPolicy,
) -> AsyncIterator[Presence]:
    """The body of `Broadcast.track` (arguments checked there, except these)."""
    if not isinstance(key, str) or not key:
        raise TypeError(f"key must be a non-empty str, got {key!r}")
    ttl = _check_ttl(ttl)
    if type(buffer) is not int or buffer < 1:
        raise ValueError(f"buffer must be an int >= 1, got {buffer!r}")
    if overflow not in _POLICIES:
        raise ValueError(f'overflow must be "block", "drop_oldest" or "close", got {overflow!r}')
    try:
        payload = encode_entry(key, meta)
    except (TypeError, ValueError) as error:
        raise TypeError(f"meta must be JSON-serialisable: {error}") from None
    meta = json.loads(payload)[1]  # what every other process will see
    registry = _registry(broadcast)
    hub = await registry.enter(channel)
    presence = Presence(hub, key, meta, payload, ttl, DiffQueue(hub.log, channel, buffer, overflow))
    try:
        await hub.change(presence, join=True)
    except BaseException:
        await registry.leave(hub)
        raise
    hub.register(presence)
    try:
        yield presence
    finally:
        hub.unregister(presence)
        with trio.CancelScope(shield=True), trio.move_on_after(_LEAVE_TIMEOUT) as leaving:
            try:
                await hub.change(presence, join=False)
            except BroadcastUnavailable as error:
                logger.warning(
                    "%r could not leave %r (%s); it expires within %s s",
                    key, channel, error, ttl,
                )  # fmt: skip
        if leaving.cancelled_caught:
            logger.warning(
                "%r could not leave %r in time; it expires within %s s", key, channel, ttl
            )
        await registry.leave(hub)

"""``RedisBackend``: the bus of ``Broadcast("redis://...")``, on coredis 6 (anyio, so Trio).

One subscription connection per process (a `_Link`; a cluster keeps one per master, each
renewed on its own), fanned out to local subscribers by the hub; a lost link costs the
channels it carried one gap, healed from history. Commands (PUBLISH, and XADD/XREVRANGE for
history) go through the client's pool. Everything coredis
raises is contained here: users see `BroadcastUnavailable` with the cause attached, never
an exception group from coredis' task groups.

The coredis behaviour this module relies on (``tests/broadcast/test_redis.py`` pins it):

* ``Redis.from_url(..., retry_policy=NoRetryPolicy())``: a failed command raises at once.
* ``client.pubsub(retry_policy=None)`` as a context manager; ``subscribe(**{channel: handler})``
  calls the (async) handler for each message instead of queueing it without bound; with no
  retry policy, a lost connection ends the context manager with an error (an exception group
  of ``coredis.exceptions.ConnectionError``), which is how an outage is noticed here.
* ``async with client:`` hosts the pool's task group. It runs in a task of its own so that a
  failure in it can never cancel the application's code, and closes only after the
  subscription has ended: a pub/sub that ends on a closed connection makes coredis 6.9 raise
  from its own cleanup (``ClosedResourceError`` on one Redis; on a cluster an
  ``ExceptionGroup`` its ``except ConnectionError`` misses).
* A cancelled exit can still see coredis' tasks fail next to the cancellation (an exception
  group of both); the errors are dropped and the cancellation goes on alone
  (`tests/broadcast/test_cancelled_exit.py`).

Wire format: a published payload is ``<stream id or empty> SP <kind> <body>`` where kind is
``t`` (UTF-8 text) or ``b`` (bytes); with history the same ``<kind><body>`` is the ``m`` field
of an entry of the stream ``trio_ws:history:<channel>``, and one Lua script adds the entry and
publishes it, so history and live messages can be joined without duplicates.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs
import trio

from .._repeated import RepeatedCondition
from ._event import BroadcastEvent
from ._exceptions import BroadcastUnavailable
from ._exceptions import first_leaf as _first_leaf
from ._publish_batch import PublishBatcher

try:
    import anyio
    import coredis
    import coredis.exceptions
    from coredis.retry import NoRetryPolicy
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "Broadcast('redis://...') needs coredis: pip install 'trio-ws[redis]'"
    ) from exc

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._hub import Hub

__all__ = ["RedisBackend"]

logger = logging.getLogger("trio_ws.broadcast")

_STREAM_PREFIX = "trio_ws:history:"
#: Adds the stream entry and publishes it with its id, in one step (``%s``: the publish
#: command, PUBLISH or, on a cluster, SPUBLISH).
_PUBLISH_WITH_HISTORY_TEMPLATE = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'm', ARGV[3])
redis.call('%s', ARGV[2], id .. ' ' .. ARGV[3])
return id
"""
_PUBLISH_WITH_HISTORY = _PUBLISH_WITH_HISTORY_TEMPLATE % "PUBLISH"
#: Errors of the link to Redis (coredis' own, the socket's, and timeouts).
_LINK_ERRORS = (
    coredis.exceptions.RedisError,
    OSError,
    TimeoutError,
    trio.TooSlowError,
    # a pub/sub connection that closed under a command (coredis sends through anyio streams)
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
)
_MAX_BACKOFF = 5.0


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018  (parsing it raises ValueError when it is not a number)
    except ValueError:
        raise ValueError(f"bad port in broadcast URL {url!r}") from None
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError(f"no host in broadcast URL {url!r}")
    if parts.scheme == "unix" and not parts.path:
        raise ValueError(f"no socket path in broadcast URL {url!r}")


def _encode(message: str | bytes) -> bytes:
    return b"t" + message.encode() if isinstance(message, str) else b"b" + message


def _decode(channel: str, payload: bytes, position: tuple[int, int] | None) -> BroadcastEvent:
    body = payload[1:]
    message: str | bytes = body.decode() if payload[:1] == b"t" else body
    return BroadcastEvent(channel, message, position=position)


def _position(stream_id: bytes | str) -> tuple[int, int]:
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    millis, _, sequence = text.partition("-")
    return (int(millis), int(sequence or 0))


def _is_link_error(error: BaseException) -> bool:
    if isinstance(error, BaseExceptionGroup):
        return all(_is_link_error(inner) for inner in error.exceptions)
    return isinstance(error, _LINK_ERRORS)


def _describe(error: BaseException) -> str:
    """The leaves of ``error`` (an exception group or not), for one readable message."""
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(_describe(inner) for inner in error.exceptions)
    return f"{type(error).__name__}: {error}"


def _as_exception(error: BaseException) -> Exception:
    leaf = _first_leaf(error)
    return leaf if isinstance(leaf, Exception) else BroadcastUnavailable(_describe(error))


def _interruption(error: BaseException) -> BaseException | None:
    """What of ``error`` is not an `Exception` (a cancellation, a ``KeyboardInterrupt``):
    ``error`` itself, the part of its group that is, or ``None``.

    A task torn down by a cancellation can see coredis' tasks fail at the same time (their
    connection closed under them): the group then holds both. The cancellation must go on
    (its cancel scope absorbs it); the link errors must not (they are contained here).
    """
    if isinstance(error, BaseExceptionGroup):
        _, rest = error.split(Exception)
        return rest
    return None if isinstance(error, Exception) else error


@attrs.define(eq=False)
class _Link:
    """One subscription connection and the channels it carries."""

    key: str
    #: Logs this link's outages (start, counts, end).
    outage: RepeatedCondition
    pubsub: Any = None  # the live pub/sub, None while the link is down
    up: trio.Event = attrs.Factory(trio.Event)  # set while up; a new one after each loss
    channels: set[str] = attrs.Factory(set)
    #: Unsubscribes sent on the live pub/sub whose confirmation the drain has not seen yet.
    unsubscribing: dict[str, int] = attrs.Factory(dict)


class RedisBackend:
    """A Redis client host task, a subscription task, and commands through the pool."""

    #: Whether `_drain` sees the unsubscribe confirmations (and counts `_Link.unsubscribing`).
    _DRAIN_READS_UNSUBSCRIBES = False

    def __init__(self, url: str, hub: Hub, history: int, connect_timeout: float) -> None:
        _check_url(url)
        self._url = url
        self._hub = hub
        self._history = history
        self._connect_timeout = connect_timeout
        try:
            self._client: Any = self._new_client()  # coredis.Redis[bytes]
        except ValueError as error:
            raise ValueError(f"bad broadcast URL {url!r}: {error}") from None
        # the subscription connections, by key: one ("") on one Redis, one per master on a
        # cluster (a channel's link is `_link_key(channel)`'s)
        self._links: dict[str, _Link] = {}
        self._links_changed = trio.Event()  # set (and replaced) when a link comes up
        # channels that had a gap and, with history on, are healed when next subscribed
        self._unhealed: set[str] = set()
        self._stop = trio.Event()
        # the client closes once the broadcast stops and its subscription has ended, never
        # before: coredis' pub/sub must not end on a closed connection
        self._subscription_ended = trio.Event()
        self._channel_locks: dict[str, trio.Lock] = {}
        # channels being healed after an outage: their live messages wait here meanwhile
        self._healing: dict[str, list[BroadcastEvent]] = {}
        # the end of each subscribed channel's stream just before it was subscribed: where
        # healing resumes when no message came before the outage
        self._origins: dict[str, tuple[int, int]] = {}
        #: Redis down: logged when it starts, then as a count, then when the link is back.
        self._outage = RepeatedCondition(logger, f"trio_ws: broadcast: Redis at {url}")
        self._batcher = PublishBatcher(self._send_publish, self._send_publishes)

    def _new_client(self) -> Any:
        return coredis.Redis.from_url(
            self._url,
            decode_responses=False,
            retry_policy=NoRetryPolicy(),
            connect_timeout=self._connect_timeout,
            stream_timeout=self._connect_timeout,
        )

    # ------------------------------------------------------------------ lifetime

    async def start(self, nursery: trio.Nursery) -> None:
        try:
            await nursery.start(self._host_client)
            try:
                with trio.fail_after(self._connect_timeout):
                    await self._client.ping()
            except Exception as error:
                if not _is_link_error(error):
                    raise
                raise BroadcastUnavailable(
                    f"cannot reach Redis at {self._url}: {_describe(error)}"
                ) from error
            await nursery.start(self._batcher.run)
            await nursery.start(self._subscription_loop)
        except BaseException:
            self._stop.set()
            self._subscription_ended.set()  # (or never started): the client closes
            raise

    async def stop(self) -> None:
        self._stop.set()
        self._batcher.close()
        pubsubs = [link.pubsub for link in self._links.values() if link.pubsub is not None]
        for link in self._links.values():
            link.pubsub = None
        with trio.move_on_after(1):
            async with trio.open_nursery() as nursery:
                for pubsub in pubsubs:
                    nursery.start_soon(self._unsubscribe_all, pubsub)
        await trio.lowlevel.checkpoint()

    @staticmethod
    async def _unsubscribe_all(pubsub: Any) -> None:
        try:
            await pubsub.unsubscribe()
        except Exception as error:
            if not _is_link_error(error):
                raise

    async def _host_client(self, task_status: trio.TaskStatus[None]) -> None:
        """Hold ``async with client`` (the pool's task group) until the broadcast stops and
        its subscription has ended.

        Cancellation:
          Shielded: when the scope around the broadcast is cancelled, the client stays open
          until the broadcast's exit (after its subscription ended), so that what the block
          does on its way out (a presence leaving, a shielded publish) still reaches Redis.
        """
        with trio.CancelScope(shield=True):
            try:
                await self._hold_client(task_status)
            finally:
                self._client_closed()

    def _client_closed(self) -> None:
        """Called once the client is closed for good."""

    @staticmethod
    def _raise_interruption(error: BaseException) -> None:
        """Re-raise what of ``error`` is a cancellation (or an interrupt), without the link
        errors coredis' tasks raised meanwhile; return if it is all errors (contained).

        Raises:
          trio.Cancelled, KeyboardInterrupt: alone, or a group of nothing else.
        """
        interruption = _interruption(error)
        if interruption is error:
            raise error
        if interruption is not None:
            raise interruption

    async def _hold_client(self, task_status: trio.TaskStatus[None]) -> None:
        started = False
        while not (self._stop.is_set() and self._subscription_ended.is_set()):
            try:
                async with self._client:
                    if not started:
                        started = True
                        task_status.started()
                    await self._stop.wait()
                    await self._subscription_ended.wait()
            except BaseException as error:  # contained: the next command reports the outage
                self._raise_interruption(error)
                self._outage.occurred(f"client failed ({_describe(error)}); restarting it")
                if not started:
                    started = True
                    task_status.started()
                await trio.sleep(0.1)

    async def _subscription_loop(self, task_status: trio.TaskStatus[None]) -> None:
        """Keep a subscription connection for every channel the hub has; renew it when lost.

        Cancellation:
          Raised alone: link errors of coredis' tasks that failed meanwhile are dropped.
        """
        try:
            await self._keep_links(task_status)
        finally:
            self._subscription_ended.set()

    async def _keep_links(self, task_status: trio.TaskStatus[None]) -> None:
        """One link for every channel (a cluster keeps one per master)."""
        await self._keep_link(_Link("", self._outage), task_status)

    async def _keep_link(self, link: _Link, task_status: trio.TaskStatus[None]) -> None:
        """Keep ``link`` subscribed to its channels; renew it when lost.

        A loss costs the channels it carried one gap (healed from history when it is back),
        and no other channel. Returns when the broadcast stops, or when `_before_renewal`
        says the link is no longer wanted (a cluster node that is no longer a master).
        """
        self._links[link.key] = link
        try:
            await self._renew(link, task_status)
        finally:
            link.pubsub = None
            if self._links.get(link.key) is link:
                del self._links[link.key]

    async def _renew(self, link: _Link, task_status: trio.TaskStatus[None]) -> None:
        started = False
        backoff = 0.05
        while not self._stop.is_set():
            try:
                if not await self._before_renewal(link):
                    return
                async with (
                    contextlib.AsyncExitStack() as connections,
                    self._make_pubsub(connections, link) as pubsub,
                ):
                    channels = self._channels_of(link)
                    link.channels = set(channels)
                    link.unsubscribing.clear()
                    self._start_healing(channels)
                    if channels:
                        await self._subscribe(pubsub, channels)
                    link.pubsub = pubsub
                    link.up.set()
                    self._links_changed.set()
                    self._links_changed = trio.Event()
                    link.outage.ended()
                    backoff = 0.05
                    if not started:
                        started = True
                        task_status.started()
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._drain, link, pubsub)
                        await self._heal(channels)
                        await self._steady(link, pubsub)
                        nursery.cancel_scope.cancel()
            except BaseException as error:
                self._raise_interruption(error)
                if self._stop.is_set():
                    return
                link.pubsub = None
                for channel in link.channels:
                    self._healing.pop(channel, None)
                if link.up.is_set():  # a new outage (not another failed attempt)
                    link.up = trio.Event()
                    self._hub.mark_gap(link.channels)
                    if self._history:
                        self._unhealed.update(link.channels)
                link.outage.occurred(f"subscription connection lost ({_describe(error)})")
            link.pubsub = None
            if not started:
                started = True
                task_status.started()
            if self._stop.is_set():
                return
            await trio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    # ------------------------------------------------------------------ hooks (cluster overrides)

    def _make_pubsub(
        self, connections: contextlib.AsyncExitStack, link: _Link
    ) -> contextlib.AbstractAsyncContextManager[Any]:
        """A new pub/sub object for ``link``, for the caller to enter; a lost connection ends
        it.

        ``connections`` is closed after it: for connections it leaves to its owner.
        """
        cm: contextlib.AbstractAsyncContextManager[Any] = self._client.pubsub(
            retry_policy=None, ignore_subscribe_messages=True
        )
        return cm

    async def _subscribe(self, pubsub: Any, channels: list[str]) -> None:
        await pubsub.subscribe(**dict.fromkeys(channels, self._on_message))

    async def _before_renewal(self, link: _Link) -> bool:
        """Called before each attempt to (re)open ``link``: whether it is still wanted."""
        await trio.lowlevel.checkpoint()
        return True

    def _link_key(self, channel: str) -> str | None:
        """The key of the link that carries ``channel`` (``None``: none can, for now)."""
        return ""

    def _channels_of(self, link: _Link) -> list[str]:
        """The channels with local subscribers that ``link`` should carry."""
        return [channel for channel in self._hub.channels() if self._link_key(channel) == link.key]

    def _link_carrying(self, channel: str) -> _Link | None:
        return next((link for link in self._links.values() if channel in link.channels), None)

    async def _steady(self, link: _Link, pubsub: Any) -> None:
        """While ``link`` is up: return when the broadcast stops; raise to renew the link."""
        await self._stop.wait()

    def _publish_failed(self) -> None:
        """A publish failed for a reason of the link."""

    def _stream_key(self, channel: str) -> str:
        return _STREAM_PREFIX + channel

    def _publish_request(self, target: Any, channel: str, payload: bytes) -> Any:
        """The command that publishes ``payload``, made on ``target`` (the client, or a
        pipeline): PUBLISH, or the script that also adds it to the history."""
        if self._history:
            return target.eval(
                self._publish_script,
                keys=[self._stream_key(channel)],
                args=[self._history, channel, payload],
            )
        return target.publish(channel, b" " + payload)

    _publish_script = _PUBLISH_WITH_HISTORY

    async def _send_publish(self, channel: str, payload: bytes) -> None:
        await self._publish_request(self._client, channel, payload)

    async def _send_publishes(
        self, items: Sequence[tuple[str, bytes]]
    ) -> list[BaseException | None]:
        """Several publishes in one pipeline (one round trip, in order), within
        ``connect_timeout``; each one's own outcome.

        Raises:
          trio.TooSlowError: no answer within ``connect_timeout``; and what the pipeline
            raises (an error of the link refuses them all).

        Cancellation:
          The pipeline may or may not have been run.
        """
        with trio.fail_after(self._connect_timeout):
            async with self._client.pipeline(transaction=False, raise_on_error=False) as pipe:
                requests = [
                    self._publish_request(pipe, channel, payload) for channel, payload in items
                ]
        outcomes: list[BaseException | None] = []
        for request in requests:
            try:
                await request
            except Exception as error:
                outcomes.append(error)
            else:
                outcomes.append(None)
        return outcomes

    # ------------------------------------------------------------------ messages

    async def _drain(self, link: _Link, pubsub: Any) -> None:
        """Empty the pubsub's own queue, which never bounds itself.

        Messages go to the handlers; the queue still gets a ``None`` for each of them and the
        (un)subscribe confirmations, and would grow for ever if nobody read it.
        """
        while True:
            await pubsub.get_message()

    async def _on_message(self, message: Any) -> None:
        payload: bytes = message["data"]
        channel_raw = message["channel"]
        channel = channel_raw.decode() if isinstance(channel_raw, bytes) else channel_raw
        stream_id, _, rest = payload.partition(b" ")
        position = _position(stream_id) if stream_id else None
        event = _decode(channel, rest, position)
        held = self._healing.get(channel)
        if held is not None:
            held.append(event)
            return
        await self._hub.deliver(event)

    def _start_healing(self, channels: list[str]) -> None:
        """Hold the live messages of those of ``channels`` that have a gap to heal."""
        for channel in channels:
            if channel in self._unhealed:
                self._healing[channel] = []

    async def _heal(self, channels: list[str]) -> None:
        """After an outage: give each channel's subscribers what its stream holds after the
        last message they got, then the live messages that arrived meanwhile.

        Duplicates (the live copy of a replayed message) are dropped by the hub. A channel
        that had no message before the outage resumes from where its stream ended when it
        was subscribed.
        """
        for channel in channels:
            if channel not in self._healing:
                continue
            since = self._hub.last_position(channel) or self._origins.get(channel)
            if since is not None:
                missed = await self._missed(channel, since)
                for event in missed:
                    await self._hub.deliver(event)
            held = self._healing.get(channel, [])
            while held:
                await self._hub.deliver(held.pop(0))
            self._healing.pop(channel, None)
            self._unhealed.discard(channel)

    async def _missed(self, channel: str, since: tuple[int, int]) -> list[BroadcastEvent]:
        """What ``channel``'s stream holds after ``since``; retried for up to
        ``connect_timeout`` (a cluster answers ``CLUSTERDOWN`` for a moment after a master
        is back), then ``[]``: the gap stays a gap."""
        error: BroadcastUnavailable | None = None
        with trio.move_on_after(self._connect_timeout):
            while True:
                try:
                    missed, _ = await self.after(channel, since, self._history)
                except BroadcastUnavailable as failure:
                    error = failure
                    if self._stop.is_set():
                        break
                    await trio.sleep(0.1)
                    continue
                return missed
        logger.warning("cannot heal the gap of %r: %s", channel, error)
        return []

    # ------------------------------------------------------------------ operations

    async def publish(self, channel: str, message: str | bytes) -> None:
        payload = _encode(message)
        try:
            with trio.fail_after(self._connect_timeout):
                await self._batcher.publish(channel, payload)
        except Exception as error:
            if not _is_link_error(error):
                raise
            self._publish_failed()
            raise BroadcastUnavailable(
                f"publish to {channel!r} failed, the message was not published: "
                f"Redis at {self._url} is unreachable ({_describe(error)})"
            ) from _first_leaf(error)

    async def publish_many(
        self, items: Sequence[tuple[str, str | bytes]]
    ) -> list[Exception | None]:
        """Publish in order, in one pipeline (one per master on a cluster: `Publisher`'s
        sender); each one's own outcome."""
        payloads = [(channel, _encode(message)) for channel, message in items]
        try:
            outcomes = await self._send_publishes(payloads)
        except Exception as error:
            if not _is_link_error(error):
                raise
            outcomes = [error] * len(items)
        if any(outcome is not None for outcome in outcomes):
            self._publish_failed()
        return [None if outcome is None else _as_exception(outcome) for outcome in outcomes]

    def _lock(self, channel: str) -> trio.Lock:
        lock = self._channel_locks.get(channel)
        if lock is None:
            lock = self._channel_locks[channel] = trio.Lock()
        return lock

    async def listen(self, channel: str) -> None:
        """Subscribe the process's connection to ``channel`` (if it is not already).

        While the link is being renewed this waits for it, up to ``connect_timeout``.
        """
        last_error: BaseException | None = None
        async with self._lock(channel):
            with trio.move_on_after(self._connect_timeout):
                while True:
                    key = self._link_key(channel)
                    link = None if key is None else self._links.get(key)
                    if link is None or link.pubsub is None:
                        await self._links_changed.wait()
                        continue
                    if channel in link.channels:
                        return  # subscribed by the (renewed) link already
                    pubsub = link.pubsub
                    try:
                        if self._history and channel not in self._origins:
                            self._origins[channel] = await self._tail(channel)
                        await self._subscribe(pubsub, [channel])
                        link.channels.add(channel)
                        return
                    except Exception as error:
                        if not _is_link_error(error):
                            raise
                        last_error = error
                    await trio.sleep(0.05)  # the subscription loop notices and renews the link
        detail = _describe(last_error) if last_error else "the link is down"
        raise BroadcastUnavailable(
            f"cannot subscribe to {channel!r} on Redis at {self._url}: {detail}"
        ) from (last_error and _first_leaf(last_error))

    async def unlisten(self, channel: str) -> None:
        async with self._lock(channel):
            if self._hub.subscribers(channel):
                return
            self._origins.pop(channel, None)
            self._unhealed.discard(channel)
            link = self._link_carrying(channel)
            pubsub = None if link is None else link.pubsub
            if link is None or pubsub is None:
                return  # the link is down: the renewed one subscribes only to live channels
            link.channels.discard(channel)
            if self._DRAIN_READS_UNSUBSCRIBES:
                link.unsubscribing[channel] = link.unsubscribing.get(channel, 0) + 1
            with trio.move_on_after(1):
                try:
                    await pubsub.unsubscribe(channel)
                except Exception as error:
                    if not _is_link_error(error):
                        raise
        if not self._hub.subscribers(channel):
            self._channel_locks.pop(channel, None)

    async def recent(self, channel: str, count: int) -> list[BroadcastEvent]:
        return await self._read_back(channel, None, count)

    async def after(
        self, channel: str, position: tuple[int, int], count: int
    ) -> tuple[list[BroadcastEvent], bool]:
        # newest first, down to and including `position` itself if the stream still has it
        events = await self._read_back(channel, position, count + 1)
        if events and events[0].position == position:
            return events[1:], True
        if not events:  # `position` is newer than the whole stream: an id from elsewhere
            return await self._read_back(channel, None, count), False
        return events[-count:], False

    async def _tail(self, channel: str) -> tuple[int, int]:
        """The position of the newest entry of the channel's stream, ``(0, 0)`` if none."""
        newest = await self._read_back(channel, None, 1)
        position = newest[-1].position if newest else None
        return position or (0, 0)

    async def _read_back(
        self, channel: str, down_to: tuple[int, int] | None, count: int
    ) -> list[BroadcastEvent]:
        """Up to ``count`` newest entries of the channel's stream (down to ``down_to``
        inclusive), oldest first."""
        start = "-" if down_to is None else f"{down_to[0]}-{down_to[1]}"
        try:
            with trio.fail_after(self._connect_timeout):
                entries = await self._client.xrevrange(
                    self._stream_key(channel), end="+", start=start, count=count
                )
        except Exception as error:
            if not _is_link_error(error):
                raise
            raise BroadcastUnavailable(
                f"cannot read the history of {channel!r} on Redis at {self._url}: "
                f"{_describe(error)}"
            ) from _first_leaf(error)
        return [
            _decode(channel, entry.field_values[b"m"], _position(entry.identifier))
            for entry in reversed(entries)
        ]

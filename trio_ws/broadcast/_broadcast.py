"""``Broadcast``: publish to channels, subscribe with bounded buffers, forward to websockets."""

from __future__ import annotations

import contextlib
import json
import math
from typing import TYPE_CHECKING, Any, final

import trio

from .._bounded_queue import check_overflow_policy
from .._trio_check import require_trio
from ._event import parse_event_id
from ._exceptions import first_leaf as _first_leaf
from ._forward import forward_to_websocket
from ._hub import Hub
from ._memory import MemoryBackend
from ._presence import track as _track
from ._publisher import open_publisher
from ._subscriber import Subscriber
from ._tally import BROADCAST_TALLY

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from types import TracebackType

    from .._options import OverflowPolicy
    from .._websocket import WebSocket
    from ._backend import Backend
    from ._event import BroadcastEvent
    from ._forward import GapRenderer, Renderer
    from ._presence import Presence
    from ._publisher import Publisher

__all__ = ["Broadcast"]


def _check_channel(channel: object) -> str:
    if not isinstance(channel, str) or not channel:
        raise TypeError(f"channel must be a non-empty str, got {channel!r}")
    return channel


def _check_message(channel: object, message: object) -> None:
    _check_channel(channel)
    if not isinstance(message, (str, bytes)):
        raise TypeError(f"message must be str or bytes, got {type(message).__name__}")


def _check_count(name: str, value: object, minimum: int) -> int:
    if type(value) is not int or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _make_backend(url: str, hub: Hub, history: int, connect_timeout: float) -> Backend:
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ValueError(f"broadcast URL must look like 'memory://' or 'redis://host', got {url!r}")
    if scheme == "memory":
        return MemoryBackend(hub, history)
    if scheme in ("redis", "rediss", "unix"):
        from ._redis import RedisBackend  # imports coredis: only when asked for

        return RedisBackend(url, hub, history, connect_timeout)
    if scheme in ("redis-cluster", "rediss-cluster"):
        from . import _redis  # noqa: F401  (without coredis: the ImportError naming the extra)
        from ._redis_cluster import RedisClusterBackend

        return RedisClusterBackend(url, hub, history, connect_timeout)
    raise ValueError(
        f"unknown broadcast URL scheme {scheme!r} in {url!r}: use memory://, redis://, "
        "rediss://, unix://, redis-cluster:// or rediss-cluster://"
    )


@final
class Broadcast:
    """Publish/subscribe channels, in this process or across processes through Redis.

        async with trio_ws.Broadcast("redis://localhost:6379") as broadcast:
            async with broadcast.subscribe("room") as subscriber:
                await broadcast.publish("room", "hello")
                async for event in subscriber:
                    print(event.message)

    Args:
      url: ``"memory://"`` (default: this process only), ``"redis://host:port/db"``
        (``rediss://`` for TLS, ``unix:///path``), or ``"redis-cluster://host:port"`` (any
        node of a Redis Cluster as the seed, sharded pub/sub; ``rediss-cluster://`` for
        TLS). Redis needs the ``redis`` extra, ``pip install trio-ws[redis]``.
      history: how many recent messages to keep per channel (0, the default, keeps none),
        so that ``subscribe(channel, history=n)`` can replay up to that many, events carry
        an ``id``, ``since=`` resumes after one, and a lost Redis link is healed. On Redis
        they are kept in a stream per channel (``XADD ... MAXLEN``).
      connect_timeout: the most seconds connecting to Redis may take (start and reconnects).

    Raises:
      ValueError: a malformed or unknown URL, or a bad option (at construction).
      ImportError: a ``redis://`` URL without ``coredis`` installed.
      BroadcastUnavailable: on ``async with``, when Redis cannot be reached.
    """

    def __init__(
        self, url: str = "memory://", *, history: int = 0, connect_timeout: float = 5.0
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"broadcast URL must be a str, got {url!r}")
        _check_count("history", history, 0)
        if not (isinstance(connect_timeout, (int, float)) and 0 < connect_timeout < math.inf):
            raise ValueError(f"connect_timeout must be a number > 0, got {connect_timeout!r}")
        self._url = url
        self._history = history
        self._hub = Hub()
        self._backend = _make_backend(url, self._hub, history, float(connect_timeout))
        self._stack: contextlib.AsyncExitStack | None = None
        self._nursery: trio.Nursery | None = None  # hosts presence's and publishers' tasks
        self._publishers: set[Publisher] = set()  # open `publisher()` blocks
        self._running = False

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<Broadcast {self._url!r} {state}>"

    async def __aenter__(self) -> Broadcast:
        """Connect the backend.

        Raises:
          BroadcastUnavailable: the backend cannot be reached (one error, never a group).
          RuntimeError: this Broadcast is already running, or this is not a Trio task.
        """
        require_trio("Broadcast")
        if self._stack is not None:
            raise RuntimeError("this Broadcast is already running")
        stack = contextlib.AsyncExitStack()
        try:
            nursery = await stack.enter_async_context(trio.open_nursery())
            await self._backend.start(nursery)
        except BaseException:
            nursery.cancel_scope.cancel()
            await stack.aclose()
            raise
        self._stack = stack
        self._nursery = nursery
        self._running = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Disconnect: every subscriber's loop ends after its buffered messages.

        Raises:
          Only the block's own exception (never wrapped in an ``ExceptionGroup``).

        Cancellation:
          The disconnect is shielded (bounded: one second for Redis' unsubscribe). Cancelled
          in the block or during the exit, the exit raises the block's own exception or one
          `trio.Cancelled`, never an error of the connection to Redis that the cancellation
          cut (on one Redis and on a cluster).
        """
        stack, self._stack = self._stack, None
        self._running = False
        self._hub.end_all()
        for publisher in list(self._publishers):  # blocks still open in other tasks
            publisher._refuse_remaining()
        with trio.CancelScope(shield=True):
            await self._backend.stop()
        assert stack is not None
        try:
            return await stack.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            # the block's own exception went through our nursery, maybe with the backend's
            # tasks' cancellations: let it out unwrapped, or one cancellation if it had none
            _, rest = group.split(lambda error: error is exc or isinstance(error, trio.Cancelled))
            if rest is not None:
                raise
            if exc is not None:
                return False
            raise _first_leaf(group) from None

    def _require_running(self) -> None:
        if not self._running:
            raise RuntimeError("use the Broadcast inside `async with Broadcast(url) as ...:`")

    async def publish(self, channel: str, message: str | bytes) -> None:
        """Publish ``message`` to every subscriber of ``channel`` (in every process on Redis).

        Returns once the message is in every local subscriber's buffer (memory) or accepted
        by Redis. Waits for a subscriber only if it chose ``overflow="block"``. A task that
        publishes in a loop pays one round trip to Redis per message: give it a `publisher`.

        Raises:
          TypeError: ``channel`` is not a non-empty str, or ``message`` not ``str``/``bytes``.
          BroadcastUnavailable: Redis cannot be reached; the message was not published.
          RuntimeError: outside ``async with``.

        Cancellation:
          In memory, a publish cancelled while it waits for a ``"block"`` subscriber has
          reached the subscribers before it; on Redis, a cancelled publish may or may not
          have been published.
        """
        _check_message(channel, message)
        self._require_running()
        await self._backend.publish(channel, message)

    async def publish_json(self, channel: str, data: Any) -> None:
        """Publish ``data`` encoded as compact JSON text (read it back with ``event.json()``).

        Raises:
          TypeError, ValueError: ``data`` cannot be encoded as JSON; and as `publish`.

        Cancellation:
          As `publish`.
        """
        await self.publish(channel, json.dumps(data, separators=(",", ":"), ensure_ascii=False))

    def publisher(
        self, *, max_in_flight: int = 1000
    ) -> contextlib.AbstractAsyncContextManager[Publisher]:
        """A pipelined publisher for one task that publishes in a loop (one socket's loop).

        `publish` waits for Redis' answer, so a loop of them pays one round trip per
        message. The `Publisher`'s ``publish`` returns once the message is queued in a
        window of at most ``max_in_flight`` messages; everything queued while a batch is on
        its way goes in the next batch (one pipeline, one round trip), and each message's
        own answer is checked:

            async with broadcast.publisher() as publisher:
                async for text in ws.iter_text():
                    await publisher.publish("room", text)

        Promises: each channel gets the publisher's messages in the order of its ``publish``
        calls; at most ``max_in_flight`` are queued or unanswered (``publish`` waits for
        room); a refused message is reported, once, as `PublishRefused` (which lists every
        message not published) by the next ``publish``, by ``flush``, or at the end of the
        block, which waits for every answer. On memory the window holds messages until their
        delivery to the local subscribers.

        Args:
          max_in_flight: the size of the window (>= 1).

        Raises:
          ValueError: a bad ``max_in_flight`` (at the call).
          RuntimeError: outside ``async with Broadcast(...)``.
          PublishRefused: at the end of the block, when messages not reported yet were
            refused (if the block raised, its error is the refusal's ``__context__``).

        Cancellation:
          A cancelled ``publish`` has not queued its message. A block that ends by
          cancellation (or whose final wait is cancelled) does not wait: messages not sent
          yet are dropped unsent, the batch on its way may or may not be published, and both
          are counted in ``statistics().abandoned``. If the Broadcast closes while the block
          is open, the messages not sent yet are refused (reported as above).
        """
        _check_count("max_in_flight", max_in_flight, 1)
        self._require_running()
        assert self._nursery is not None
        return open_publisher(
            self._nursery,
            self._backend.publish_many,
            max_in_flight,
            _check_message,
            self._publishers,
        )

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        channel: str,
        *,
        buffer: int = 256,
        overflow: OverflowPolicy = "drop_oldest",
        history: int = 0,
        since: str | None = None,
    ) -> AsyncIterator[Subscriber]:
        """Subscribe to ``channel`` for the duration of the block.

        Args:
          buffer: how many messages the subscriber holds while its loop is busy.
          overflow: what happens when another message arrives and the buffer is full:
            ``"drop_oldest"`` (default) discards the oldest buffered one (counted in
            ``statistics().dropped``); ``"close"`` ends the subscription: the loop gets what
            was buffered, then `SubscriberOverflow` saying how many it missed;
            ``"block"`` makes publishers wait for room (on Redis: the whole process's
            subscription connection waits).
          history: replay up to this many recent messages first (at most the Broadcast's
            ``history`` and ``buffer``).
          since: an event id (`BroadcastEvent.id`, e.g. the last one a reconnecting client
            saw): replay what the history holds after it first, then go live, without
            duplicates. If the history no longer holds ``since`` itself (it was trimmed,
            Redis lost it, or the id is from elsewhere) or more than ``buffer`` messages
            follow it, iteration first raises `BroadcastGap`, then yields the newest
            ``buffer`` messages after ``since`` (of the whole history if ``since`` is newer
            than all of it: an id from before a restart). Needs
            ``Broadcast(url, history=N)``.

        Raises:
          ValueError: a bad ``buffer``, ``overflow``, ``history`` or ``since``, ``since``
            together with ``history``, or ``since`` on a Broadcast without history.
          TypeError: ``since`` is not a str.
          BroadcastUnavailable: Redis cannot be reached now.
          RuntimeError: outside ``async with Broadcast(...)``.

        Cancellation:
          Messages already delivered to the loop are kept; the subscription ends with the
          block, however it ends.
        """
        _check_channel(channel)
        _check_count("buffer", buffer, 1)
        check_overflow_policy(overflow)
        _check_count("history", history, 0)
        if history > self._history:
            raise ValueError(
                f"history={history} but this Broadcast keeps {self._history} message(s) per "
                "channel: pass Broadcast(url, history=...)"
            )
        if history > buffer:
            raise ValueError(f"history={history} does not fit in buffer={buffer}")
        position = None if since is None else parse_event_id(since)
        if position is not None and history:
            raise ValueError("pass history= or since= to subscribe, not both")
        if position is not None and not self._history:
            raise ValueError(
                "since= replays from the history, and this Broadcast keeps none: "
                "pass Broadcast(url, history=N)"
            )
        self._require_running()
        subscriber = Subscriber(channel, buffer, overflow)
        self._hub.add(subscriber)
        BROADCAST_TALLY.join(subscriber)  # for metrics (trio_ws.metrics)
        try:
            await self._backend.listen(channel)
            # an outage noticed before the subscription was confirmed owes it nothing
            subscriber.forget_gaps()
            if history:
                past = await self._backend.recent(channel, history)
                self._join_history(subscriber, past, None, gap=False)
            elif position is not None:
                past, complete = await self._backend.after(channel, position, buffer)
                seen = position if complete else None
                self._join_history(subscriber, past, seen, gap=not complete)
            yield subscriber
        finally:
            subscriber.end()
            BROADCAST_TALLY.leave(subscriber)
            if self._hub.remove(subscriber):
                with trio.CancelScope(shield=True):
                    await self._backend.unlisten(channel)

    def _join_history(
        self,
        subscriber: Subscriber,
        past: list[BroadcastEvent],
        seen: tuple[int, int] | None,
        *,
        gap: bool,
    ) -> None:
        """Put ``past`` before the live messages ``subscriber`` buffered meanwhile.

        Live copies of what ``past`` (or ``seen``, the position the history starts after)
        covers are dropped, the buffered ones here, the ones still on their way by the hub:
        the live link and the history read are separate connections, so a message can reach
        the history read before it arrives live.
        """
        last = past[-1].position if past else seen
        if last is None and not gap:
            return
        live = [
            event
            for event in subscriber.take_buffered()
            if last is None or event.position is None or event.position > last
        ]
        subscriber.replace_buffer(past + live, gap=gap)
        if last is not None:
            self._hub.set_floor(subscriber, last)

    async def forward(
        self,
        channel: str,
        websocket: WebSocket,
        *,
        buffer: int = 256,
        overflow: OverflowPolicy = "drop_oldest",
        history: int = 0,
        since: str | None = None,
        render: Renderer | None = None,
        on_gap: GapRenderer | None = None,
    ) -> None:
        """Send every message of ``channel`` to ``websocket`` until that socket closes.

        Text goes out with ``send_text``, bytes with ``send_bytes``, so the connection's own
        outbound buffer and ordering apply. In structured mode the call returns as soon as
        the connection ends, even while no message is flowing; in direct mode it returns at
        the first send after the client left. With ``overflow="close"`` a socket that falls
        ``buffer`` messages behind is closed with its ``overflow_close_code`` (1008 by
        default) and the call returns.

        Args:
          buffer, overflow, history, since: as for `subscribe`. With ``since`` (the last
            event id the client saw, from a query parameter say) the socket first gets what
            the history holds after it, then the live messages.
          render: what to send for each event, ``str`` (a text message) or ``bytes`` (a
            binary one); by default the message as it was published. Use it to send the
            event's ``id`` along, so that the client can resume with ``since=``.
          on_gap: what to send when a `BroadcastGap` comes (the link was lost, or ``since``
            is older than the history): a ``str`` or ``bytes`` message, or ``None`` to send
            nothing. By default gaps are skipped (they are in the subscriber's ``gaps``).

        Typical use, one task per socket:

            async def handler(ws):
                await ws.accept()
                ws.start_soon(broadcast.forward, "room", ws)
                async for text in ws.iter_text():
                    await broadcast.publish("room", text)

        Raises:
          Only what ``subscribe`` raises, what ``render`` or ``on_gap`` raise, and errors of
          the socket that are not its disconnect (a disconnect of ``websocket`` ends the call
          normally; it never raises a disconnect belonging to any other connection).
          TypeError: ``render`` or ``on_gap`` returned something else than ``str``/``bytes``
            (or ``None`` for ``on_gap``).

        Cancellation:
          Safe to cancel; a message is either sent whole or not taken.
        """
        async with self.subscribe(
            channel, buffer=buffer, overflow=overflow, history=history, since=since
        ) as subscriber:
            await forward_to_websocket(subscriber, websocket, render=render, on_gap=on_gap)

    def track(
        self,
        channel: str,
        key: str,
        meta: Any = None,
        *,
        ttl: float = 30.0,
        buffer: int = 256,
        overflow: OverflowPolicy = "drop_oldest",
    ) -> contextlib.AbstractAsyncContextManager[Presence]:
        """Announce ``key`` in ``channel`` for the duration of the block (presence).

        A typical block:

            async with broadcast.track("room", user_id, {"name": name}) as presence:
                members = presence.list()     # {key: [meta, ...]}, this one included
                async for diff in presence.diffs():
                    print(diff.joins, diff.leaves)

        Every process of the broadcast sees the same members (memory: this process; Redis:
        every process on that Redis), eventually: a process's own changes at once, the others'
        as their diffs arrive, and at the latest at the next heartbeat (every ``ttl / 4``
        seconds). A key tracked by two connections is listed with two metas. If the process
        dies without leaving, its entries disappear within ``ttl`` seconds (pruned by the other
        processes' heartbeats). See docs/presence.md.

        Args:
          channel: any channel name (presence diffs travel on the broadcast channel
            ``"trio_ws:presence:" + channel``).
          key: what identifies the member (a user id, a name), a non-empty str.
          meta: JSON-able data about this connection (device, joined-at, ...).
          ttl: seconds within which the entry disappears if this process dies (>= 0.1).
          buffer: how many diffs the block holds while its loop is busy.
          overflow: what happens when a diff arrives and the buffer is full:
            ``"drop_oldest"`` (default; `Presence.list` stays exact), ``"close"`` (the
            diff loop ends with `SubscriberOverflow`), or ``"block"`` (this process's
            presence updates of the channel wait for room).

        Raises:
          TypeError: ``channel`` or ``key`` is not a non-empty str, or ``meta`` is not
            JSON-serialisable.
          ValueError: a bad ``ttl``, ``buffer`` or ``overflow``.
          BroadcastUnavailable: on entering, when Redis cannot be reached (nothing was
            announced).
          RuntimeError: outside ``async with Broadcast(...)``.

        Cancellation:
          Entering is cancellable (nothing is left announced, or it expires within ``ttl``).
          Leaving runs shielded, for at most two seconds; if Redis cannot be reached then, the
          entry expires within ``ttl``.
        """
        _check_channel(channel)
        self._require_running()
        return _track(self, channel, key, meta, ttl=ttl, buffer=buffer, overflow=overflow)

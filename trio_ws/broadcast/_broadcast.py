"""``Broadcast``: publish to channels, subscribe with bounded buffers, forward to websockets."""

from __future__ import annotations

import contextlib
import json
import math
from typing import TYPE_CHECKING, Any, final

import trio

from .._bounded_queue import check_overflow_policy
from ._forward import forward_to_websocket
from ._hub import Hub
from ._memory import MemoryBackend
from ._subscriber import Subscriber

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from types import TracebackType

    from .._options import OverflowPolicy
    from .._websocket import WebSocket
    from ._backend import Backend

__all__ = ["Broadcast"]


def _check_channel(channel: object) -> str:
    if not isinstance(channel, str) or not channel:
        raise TypeError(f"channel must be a non-empty str, got {channel!r}")
    return channel


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
    raise ValueError(
        f"unknown broadcast URL scheme {scheme!r} in {url!r}: use memory://, redis:// or rediss://"
    )


@final
class Broadcast:
    """Publish/subscribe channels, in this process or across processes through Redis.

    ::

        async with trio_ws.Broadcast("redis://localhost:6379") as broadcast:
            async with broadcast.subscribe("room") as subscriber:
                await broadcast.publish("room", "hello")
                async for event in subscriber:
                    print(event.message)

    Args:
      url: ``"memory://"`` (default: this process only) or ``"redis://host:port/db"``
        (``rediss://`` for TLS; needs the ``redis`` extra, ``pip install trio-ws[redis]``).
      history: how many recent messages to keep per channel (0, the default, keeps none),
        so that ``subscribe(channel, history=n)`` can replay up to that many. On Redis
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
        self._running = False

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<Broadcast {self._url!r} {state}>"

    async def __aenter__(self) -> Broadcast:
        """Connect the backend.

        Raises:
          BroadcastUnavailable: the backend cannot be reached (one error, never a group).
          RuntimeError: this Broadcast is already running.
        """
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
          The disconnect is shielded (bounded: one second for Redis' unsubscribe).
        """
        stack, self._stack = self._stack, None
        self._running = False
        self._hub.end_all()
        with trio.CancelScope(shield=True):
            await self._backend.stop()
        assert stack is not None
        try:
            return await stack.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            # the block's own exception went through our nursery: let it out unwrapped
            if exc is not None and list(group.exceptions) == [exc]:
                return False
            raise

    def _require_running(self) -> None:
        if not self._running:
            raise RuntimeError("use the Broadcast inside `async with Broadcast(url) as ...:`")

    async def publish(self, channel: str, message: str | bytes) -> None:
        """Publish ``message`` to every subscriber of ``channel`` (in every process on Redis).

        Returns once the message is in every local subscriber's buffer (memory) or accepted
        by Redis. Waits for a subscriber only if it chose ``overflow="block"``.

        Raises:
          TypeError: ``channel`` is not a non-empty str, or ``message`` not ``str``/``bytes``.
          BroadcastUnavailable: Redis cannot be reached; the message was not published.
          RuntimeError: outside ``async with``.

        Cancellation:
          In memory, a publish cancelled while it waits for a ``"block"`` subscriber has
          reached the subscribers before it; on Redis, a cancelled publish may or may not
          have been published.
        """
        _check_channel(channel)
        checked: object = message
        if not isinstance(checked, (str, bytes)):
            raise TypeError(f"message must be str or bytes, got {type(checked).__name__}")
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

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        channel: str,
        *,
        buffer: int = 256,
        overflow: OverflowPolicy = "drop_oldest",
        history: int = 0,
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

        Raises:
          ValueError: a bad ``buffer``, ``overflow`` or ``history``.
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
        self._require_running()
        subscriber = Subscriber(channel, buffer, overflow)
        self._hub.add(subscriber)
        try:
            await self._backend.listen(channel)
            # an outage noticed before the subscription was confirmed owes it nothing
            subscriber.forget_gaps()
            if history:
                past = await self._backend.recent(channel, history)
                if past:
                    last = past[-1].position
                    assert last is not None
                    live = [
                        event
                        for event in subscriber.take_buffered()
                        if event.position is None or event.position > last
                    ]
                    subscriber.replace_buffer(past + live)
            yield subscriber
        finally:
            subscriber.end()
            if self._hub.remove(subscriber):
                with trio.CancelScope(shield=True):
                    await self._backend.unlisten(channel)

    async def forward(
        self,
        channel: str,
        websocket: WebSocket,
        *,
        buffer: int = 256,
        overflow: OverflowPolicy = "drop_oldest",
        history: int = 0,
    ) -> None:
        """Send every message of ``channel`` to ``websocket`` until that socket closes.

        Text goes out with ``send_text``, bytes with ``send_bytes``, so the connection's own
        outbound buffer and ordering apply. In structured mode the call returns as soon as
        the connection ends, even while no message is flowing; in direct mode it returns at
        the first send after the client left. A `BroadcastGap` is skipped (it is in
        the subscriber's ``gaps`` counter). With ``overflow="close"`` a socket that falls
        ``buffer`` messages behind is closed with its ``overflow_close_code`` (1008 by
        default) and the call returns.

        Typical use, one task per socket::

            async def handler(ws):
                await ws.accept()
                ws.start_soon(broadcast.forward, "room", ws)
                async for text in ws.iter_text():
                    await broadcast.publish("room", text)

        Raises:
          Only what ``subscribe`` raises, and errors of the socket that are not its
          disconnect (a disconnect of ``websocket`` ends the call normally; it never
          raises a disconnect belonging to any other connection).

        Cancellation:
          Safe to cancel; a message is either sent whole or not taken.
        """
        async with self.subscribe(
            channel, buffer=buffer, overflow=overflow, history=history
        ) as subscriber:
            await forward_to_websocket(subscriber, websocket)

"""``trio_ws.keep_connected``: run a handler on a connection, reconnecting until it is done.

A plain coroutine, not an async generator: the caller's code runs inside ``handler``, inside
the connection's block, so nothing ever yields out of an open nursery (the hazard of
``async for ws in connect(...)`` that PEP 789 describes).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from ._backoff import Backoff
from ._connect import connect
from ._errors import ConnectError, HandshakeRejected
from ._websocket import ClientClosedBy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._websocket import ClientWebSocket

__all__ = ["keep_connected"]

T = TypeVar("T")

logger = logging.getLogger("trio_ws.client")

#: Refusals worth asking again: the server may well accept later.
_RETRY_STATUSES = frozenset([408, 429])


def _worth_retrying(exc: ConnectError) -> bool:
    if isinstance(exc, HandshakeRejected):
        return exc.status_code >= 500 or exc.status_code in _RETRY_STATUSES
    return True


def _ended_by_server_or_network(ws: ClientWebSocket) -> bool:
    if ws.closed_by is ClientClosedBy.SERVER:
        return True
    # The client closed, but only because the server or the network failed it.
    return ws.keepalive_timed_out or ws.protocol_failed


async def keep_connected(
    url: str | Callable[[], str],
    handler: Callable[[ClientWebSocket], Awaitable[T]],
    *,
    min_delay: float = 1.0,
    max_delay: float = 60.0,
    reset_after: float | None = None,
    **options: Any,
) -> T | None:
    """Run ``await handler(ws)`` on a connection to ``url``, reconnecting until the client is
    done; return what the handler returned then.

    Typical use:

        async def follow(ws: trio_ws.ClientWebSocket) -> None:
            async for update in ws.iter_json():
                apply(update)

        await trio_ws.keep_connected("wss://example.com/feed", follow)

    Each connection is a `trio_ws.connect` block with its close rules. After it:

    * the handler **returned** (or raised a ``trio_ws.WebSocketException``, which closes with
      its code) on a connection the server had not ended: the client decided to stop, so this
      returns the handler's result (``None`` after a ``WebSocketException``);
    * the **server or the network ended** the connection (a close from the server, a dropped
      connection, a keepalive timeout), whether the handler then returned or let the
      ``WebSocketDisconnect`` escape: reconnect;
    * opening **failed** (`trio_ws.DNSError`, `TCPConnectError`, `TLSError`, `OpenTimeout`,
      `HandshakeFailed`, or `HandshakeRejected` with a 5xx, 408 or 429 status): reconnect.
      `HandshakeRejected` with another status (401, 403, 404...) is raised: asking again will
      not help;
    * the handler raised **anything else**: the connection closes with 1011 and the exception
      propagates, unwrapped.

    Before each reconnection it waits a random time between ``min_delay`` and a cap that
    doubles with each consecutive failure up to ``max_delay`` (exponential backoff with
    jitter). A connection that stayed open at least ``reset_after`` seconds resets the backoff:
    the next wait is at most ``min_delay`` again. The first attempt is made at once.

    Args:
      url: the URL, or a function returning the URL for each attempt (to resume a stream,
        put the last event id you saw in its query string; see the client docs).
      handler: ``async def handler(ws) -> T``, run once per connection.
      min_delay, max_delay: the backoff range, in seconds.
      reset_after: seconds a connection must live to reset the backoff (default:
        ``min(max_delay, max(10, 10 * min_delay))``: 10 s with the default delays).
      **options: `trio_ws.connect`'s options (``subprotocols``, ``headers``, ``ping_interval``...).

    Raises:
      HandshakeRejected: a refusal that retrying will not fix (see above).
      ValueError, TypeError: bad delays, URL or options.
      Whatever the handler raised, other than this connection's ``WebSocketDisconnect`` and
      ``WebSocketException``.

    Cancellation:
      Cancelling it closes the open connection (1001, shielded and bounded by
      ``close_timeout``) or stops the wait, and ``Cancelled`` propagates.
    """
    if reset_after is None:
        reset_after = min(max_delay, max(10.0, 10.0 * min_delay))
    backoff = Backoff(min_delay, max_delay, reset_after)
    attempt = 0
    while True:
        attempt += 1
        target = url() if callable(url) else url
        opened_at: float | None = None
        cause: ConnectError | None = None
        finished = False
        result: T | None = None
        try:
            async with connect(target, **options) as ws:
                opened_at = trio.current_time()
                result = await handler(ws)
                finished = True
        except ConnectError as exc:
            if not _worth_retrying(exc):
                raise
            cause = exc
        else:
            if not _ended_by_server_or_network(ws):
                return result if finished else None
        lived = None if opened_at is None else trio.current_time() - opened_at
        delay = backoff.next_delay(lived)
        if cause is not None:
            logger.info(
                "trio_ws: attempt %d failed (%s); retrying in %.2f s", attempt, cause, delay
            )
        else:
            logger.info(
                "trio_ws: %s closed %s after %.1f s; reconnecting in %.2f s",
                target,
                ws.close_code,
                math.inf if lived is None else lived,
                delay,
            )
        await trio.sleep(delay)

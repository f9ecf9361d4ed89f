"""The exceptions of `trio_ws.broadcast`.

The hierarchy::

    trio_ws.WebSocketError
    └── BroadcastError                   base of everything the broadcast package raises
        ├── BroadcastUnavailable         the backend (Redis) cannot be reached: at start, on
        │   │                            publish, on subscribe while the link is down (also a
        │   │                            WebSocketException: a handler that lets it out closes
        │   │                            its socket with 1011 "broadcast unavailable")
        │   └── PublishRefused           messages of a Publisher (broadcast.publisher()) were
        │                                refused; .refused lists them
        ├── SubscriberOverflow           a subscriber with overflow="close" fell behind; raised
        │                                from its iteration after what it had buffered
        └── BroadcastGap                 the link to the backend was lost and re-established:
                                         messages published meanwhile may be missing; raised
                                         once from iteration, which then continues
"""

from __future__ import annotations

from .._exceptions import WebSocketError, WebSocketException

__all__ = [
    "BroadcastError",
    "BroadcastGap",
    "BroadcastUnavailable",
    "PublishRefused",
    "SubscriberOverflow",
]


class BroadcastError(WebSocketError):
    """Base class of the exceptions of `trio_ws.broadcast`."""


class BroadcastUnavailable(BroadcastError, WebSocketException):
    """The broadcast backend cannot be reached (Redis down, refused, or timed out).

    Raised by ``async with Broadcast(url)`` when the server cannot be reached at start, by
    ``publish`` while the link is down (the message was *not* published), and by
    ``subscribe`` while the link is down. The original error is the ``__cause__``.

    It is an expected failure, so it is also a `trio_ws.WebSocketException` with ``code``
    1011 and ``reason`` ``"broadcast unavailable"``: a handler (or ``Broadcast.forward``)
    that lets it out closes its websocket with that code and reason, which the client can
    show, and no traceback is logged (the backend's outage is logged by the backend, once).
    """

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)
        self.code = 1011
        self.reason = "broadcast unavailable"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class SubscriberOverflow(BroadcastError):
    """A subscriber with ``overflow="close"`` fell more than ``buffer`` messages behind.

    Its subscription has ended. Iteration first yields every message buffered before the
    overflow, then raises this error, and then stops.

    Attributes:
      channel: the channel of the subscription.
      missed: how many messages the subscriber did not receive (the one that overflowed the
        buffer and every later one until this error was raised).
    """

    def __init__(self, channel: str, missed: int) -> None:
        self.channel = channel
        self.missed = missed
        super().__init__(
            f"subscriber of {channel!r} fell behind its buffer and was closed: "
            f"{missed} message(s) missed"
        )


class BroadcastGap(BroadcastError):
    """The link to the backend was lost and is back: messages may have been missed.

    Raised from a subscriber's iteration at the point in the stream where the link was lost;
    the subscription itself goes on (it was renewed by itself), so catch it and keep
    iterating. `Broadcast.forward` does that for you. The in-memory backend never
    raises it.

    Attributes:
      channel: the channel of the subscription.
    """

    def __init__(self, channel: str) -> None:
        self.channel = channel
        super().__init__(
            f"the broadcast link was lost and restored: messages on {channel!r} published "
            "in between may be missing"
        )


class PublishRefused(BroadcastUnavailable):
    """Messages of a `Publisher` (``broadcast.publisher()``) were not published.

    Raised by the `Publisher`'s next ``publish`` call, by its ``flush``, or at the end of its
    block, once the backend has refused a message that an earlier ``publish`` queued (Redis
    went away, refused the command, or the broadcast closed). It is a `BroadcastUnavailable`,
    so a handler that lets it out closes its socket with 1011. The error that refused the
    first of them is the ``__cause__``.

    Attributes:
      refused: every message that was not published since the last report, as
        ``(channel, message)`` pairs in the order of the ``publish`` calls; when ``publish``
        raises, the last one is that call's own message (it was not queued). Each refused
        message is reported once.
    """

    def __init__(self, message: str, refused: tuple[tuple[str, str | bytes], ...]) -> None:
        super().__init__(message)
        self.refused = refused


def first_leaf(error: BaseException) -> BaseException:
    """The first exception in ``error`` that is not a group (``error`` itself if it is none)."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error

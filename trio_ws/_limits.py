"""Per-connection limits and timeouts, applied where messages enter and leave the application.

The limits sit *around* the ASGI callables that a `WebSocket` is given, so the
connection core needs no knowledge of them:

* `LimitedReceive` wraps ``receive``. It enforces ``max_message_size`` (close 1009)
  and ``rate_limit`` (close 1008, or drop the message) by raising
  `WebSocketException` out of ``receive``; structured mode closes the
  connection with that code, whichever task was reading. It also keeps the time of the
  client's last message, from which its watchdog task enforces ``first_message_timeout``
  (close 1008) and ``idle_timeout`` (close 1001) by cancelling the handler.
* `HandshakeWatch` wraps ``send``. It notices the message that answers the handshake
  (accept, close or denial response): that ends the ``accept_timeout`` deadline and starts the
  first-message and idle clocks. It also fills in the subprotocol the guards chose when the
  handler accepts without naming one.

Every timeout is a trio deadline, so tests run them instantly with ``autojump_clock``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final, Literal

import attrs
import trio

from ._exceptions import WebSocketException
from ._protocol import MessageKind, message_kind

if TYPE_CHECKING:
    from ._types import Message, Receive, Send

__all__ = [
    "IDLE_TIMEOUT_CODE",
    "FIRST_MESSAGE_TIMEOUT_CODE",
    "MESSAGE_TOO_BIG_CODE",
    "RATE_LIMIT_CODE",
    "HandshakeWatch",
    "LimitedReceive",
    "Limits",
    "RateLimit",
]

#: Close code for a message over ``max_message_size`` (RFC 6455: message too big).
MESSAGE_TOO_BIG_CODE: Final = 1009
#: Close code for exceeding ``rate_limit`` with ``on_exceed="close"`` (policy violation).
RATE_LIMIT_CODE: Final = 1008
#: Close code when the client sends nothing within ``first_message_timeout`` of the accept.
FIRST_MESSAGE_TIMEOUT_CODE: Final = 1008
#: Close code when the client sends nothing for ``idle_timeout`` (going away).
IDLE_TIMEOUT_CODE: Final = 1001


#: The messages that answer the handshake (accept, close, or a denial response).
_ANSWERS: Final = frozenset([MessageKind.ACCEPT, MessageKind.REFUSAL_OR_CLOSE])


def _positive_number(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{attribute.name} must be a number > 0, got {value!r}")
    if math.isinf(value) or math.isnan(value):
        raise ValueError(f"{attribute.name} must be finite, got {value!r}")


def _optional_positive_number(
    instance: object, attribute: attrs.Attribute[float | None], value: float | None
) -> None:
    if value is not None:
        _positive_number(instance, attribute, value)  # type: ignore[arg-type]


def _positive_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or value < 1:
        raise ValueError(f"{attribute.name} must be an int >= 1, got {value!r}")


def _optional_positive_int(
    instance: object, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is not None:
        _positive_int(instance, attribute, value)  # type: ignore[arg-type]


def _on_exceed(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ("close", "drop"):
        raise ValueError(f'on_exceed must be "close" or "drop", got {value!r}')


def _rate_limit(
    instance: object, attribute: attrs.Attribute[RateLimit | None], value: object
) -> None:
    if value is not None and not isinstance(value, RateLimit):
        raise TypeError(f"rate_limit must be a trio_ws.RateLimit, not {type(value).__name__}")


@attrs.frozen
class RateLimit:
    """How many messages per second a client may send: a token bucket.

    The bucket holds ``burst`` tokens and refills at ``rate`` tokens per second; each message
    from the client takes one. A message that finds the bucket empty exceeds the limit.

    Args:
      rate: sustained messages per second (> 0).
      burst: how many messages may arrive at once after a quiet period (>= 1).
      on_exceed: ``"close"`` (default) closes the connection with 1008 (policy violation);
        ``"drop"`` discards the message and keeps the connection.

    Raises:
      ValueError: a rate or burst that is not positive, or an unknown ``on_exceed``.
    """

    rate: float = attrs.field(validator=_positive_number)
    burst: int = attrs.field(validator=_positive_int)
    on_exceed: Literal["close", "drop"] = attrs.field(default="close", validator=_on_exceed)


@attrs.frozen(kw_only=True)
class Limits:
    """The limits and timeouts of one application (see the module docstring for the codes).

    Raises (when made):
      ValueError: a size or timeout that is not a positive (finite) number.
      TypeError: ``rate_limit`` is not a `RateLimit`.
    """

    max_message_size: int | None = attrs.field(default=None, validator=_optional_positive_int)
    rate_limit: RateLimit | None = attrs.field(default=None, validator=_rate_limit)
    accept_timeout: float | None = attrs.field(default=None, validator=_optional_positive_number)
    first_message_timeout: float | None = attrs.field(
        default=None, validator=_optional_positive_number
    )
    idle_timeout: float | None = attrs.field(default=None, validator=_optional_positive_number)

    @property
    def on_receive(self) -> bool:
        """Whether any limit needs the receive wrapper."""
        return (
            self.max_message_size is not None
            or self.rate_limit is not None
            or self.first_message_timeout is not None
            or self.idle_timeout is not None
        )


def _payload_too_big(message: Message, limit: int) -> bool:
    text = message.get("text")
    if text is not None:
        size = len(text)
        if size > limit:  # every character is at least one UTF-8 byte
            return True
        if size * 4 <= limit:  # and at most four
            return False
        return len(text.encode("utf-8", "surrogatepass")) > limit
    data = message.get("bytes")
    return data is not None and len(data) > limit


class LimitedReceive:
    """The ASGI ``receive`` of one connection, with its limits applied.

    Each data message is checked against the size and rate limits as it is taken, and stamps
    the time of the client's last message. The timeouts are not checked here (a cancel scope
    per message would cost more than the rest of the receive path): `watch_timeouts`,
    a task of the connection, sleeps until the first-message or idle deadline and cancels the
    handler's scope when it passes, leaving the close code in `expired`.

    Raises (from ``__call__``):
      WebSocketException: a size or rate limit was exceeded; ``.code`` is the close code
        listed in the module docstring. The offending message is consumed.

    Cancellation:
      Atomic as the server's ``receive`` is: nothing is awaited after a message is taken, and
      a message dropped by the rate limit is gone on purpose.
    """

    __slots__ = (
        "_accepted",
        "_accepted_at",
        "_ended",
        "_limits",
        "_receive",
        "_seen_data",
        "_tokens",
        "_updated",
        "dropped",
        "expired",
        "last_message_at",
    )

    def __init__(self, receive: Receive, limits: Limits) -> None:
        self._receive = receive
        self._limits = limits
        self._accepted: trio.Event | None = None
        self._accepted_at: float | None = None
        self._ended = False
        self._seen_data = False
        self.last_message_at: float | None = None
        #: Messages discarded by ``RateLimit(on_exceed="drop")``.
        self.dropped = 0
        #: ``(code, reason)`` once a timeout has expired and the handler was cancelled.
        self.expired: tuple[int, str] | None = None
        rate = limits.rate_limit
        self._tokens = float(rate.burst) if rate is not None else 0.0
        self._updated = 0.0

    @property
    def has_timeouts(self) -> bool:
        """Whether a first-message or idle timeout needs `watch_timeouts`."""
        limits = self._limits
        return limits.first_message_timeout is not None or limits.idle_timeout is not None

    def accepted(self) -> None:
        """The handshake was accepted now: start the first-message and idle clocks."""
        now = trio.current_time()
        self._accepted_at = now
        self._updated = now
        if self._accepted is not None:
            self._accepted.set()

    def _deadline(self) -> tuple[float, int, str]:
        accepted_at = self._accepted_at
        if accepted_at is None or self._ended:
            return math.inf, 0, ""
        limits = self._limits
        deadline, code, reason = math.inf, 0, ""
        first = limits.first_message_timeout
        if first is not None and not self._seen_data:
            deadline = accepted_at + first
            code, reason = FIRST_MESSAGE_TIMEOUT_CODE, "no message within the first-message timeout"
        idle = limits.idle_timeout
        if idle is not None:
            since = self.last_message_at if self.last_message_at is not None else accepted_at
            if since + idle < deadline:
                deadline, code, reason = since + idle, IDLE_TIMEOUT_CODE, "idle timeout"
        return deadline, code, reason

    async def watch_timeouts(self, handler_scope: trio.CancelScope) -> None:
        """Cancel ``handler_scope`` when a timeout passes; record its code in `expired`.

        Waits for the accept, then sleeps from deadline to deadline (each message from the
        client moves the idle deadline on). Returns once no timeout can expire any more: the
        first message came and there is no idle timeout, or the client has left.

        Cancellation:
          Safe to cancel at any point; it only sleeps.
        """
        if self._accepted_at is None:
            self._accepted = trio.Event()
            await self._accepted.wait()
        while True:
            deadline, code, reason = self._deadline()
            if deadline == math.inf:
                return
            if trio.current_time() >= deadline:
                self.expired = (code, reason)
                handler_scope.cancel()
                return
            await trio.sleep_until(deadline)

    def _over_rate(self, rate: RateLimit) -> bool:
        now = trio.current_time()
        self._tokens = min(float(rate.burst), self._tokens + (now - self._updated) * rate.rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return False
        return True

    async def __call__(self) -> Message:
        limits = self._limits
        while True:
            message = await self._receive()
            kind = message_kind(message)
            if kind is not MessageKind.DATA_IN:
                if kind is MessageKind.DISCONNECT:
                    self._ended = True
                return message
            self._seen_data = True
            self.last_message_at = trio.current_time()
            size_limit = limits.max_message_size
            if size_limit is not None and _payload_too_big(message, size_limit):
                raise WebSocketException(
                    MESSAGE_TOO_BIG_CODE, f"message larger than {size_limit} bytes"
                )
            rate = limits.rate_limit
            if rate is not None and self._over_rate(rate):
                if rate.on_exceed == "close":
                    raise WebSocketException(RATE_LIMIT_CODE, "rate limit exceeded")
                self.dropped += 1
                continue
            return message


class HandshakeWatch:
    """The ASGI ``send`` of one connection, watching for the answer to the handshake.

    When the application accepts, closes or starts a denial response, the ``accept_timeout``
    scope (if any) stops counting; on accept the receive clocks start, and a subprotocol chosen
    by the guards is filled in unless the handler named one.
    """

    __slots__ = ("_limited", "_send", "_subprotocol", "answered", "scope")

    def __init__(
        self, send: Send, *, limited: LimitedReceive | None, subprotocol: str | None
    ) -> None:
        self._send = send
        self._limited = limited
        self._subprotocol = subprotocol
        #: The cancel scope that bounds the handshake; its deadline is lifted once answered.
        self.scope: trio.CancelScope | None = None
        #: Whether the application has answered the handshake (accepted or refused).
        self.answered = False

    async def __call__(self, message: Message) -> None:
        kind = message_kind(message)
        if not self.answered and kind in _ANSWERS:
            self.answered = True
            if self.scope is not None:
                self.scope.deadline = math.inf
            if kind is MessageKind.ACCEPT:
                if message.get("subprotocol") is None and self._subprotocol is not None:
                    message["subprotocol"] = self._subprotocol
                if self._limited is not None:
                    self._limited.accepted()
        await self._send(message)

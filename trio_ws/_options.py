"""Per-connection settings of structured mode, validated when they are made."""

from __future__ import annotations

import attrs

from ._bounded_queue import OverflowPolicy, check_overflow_policy
from ._protocol import validate_close

__all__ = ["ConnectionOptions", "OverflowPolicy"]


def _positive_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or value < 1:
        raise ValueError(f"{attribute.name} must be an int >= 1, got {value!r}")


def _non_negative_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or value < 0:
        raise ValueError(f"{attribute.name} must be an int >= 0, got {value!r}")


def _overflow(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    check_overflow_policy(value, attribute.name)


def _close_code(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    validate_close(value, None)


def _shutdown_code(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value not in (1001, 1012):
        raise ValueError(
            f"shutdown_code must be 1001 (going away) or 1012 (restart), got {value!r}"
        )


def _positive_float(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{attribute.name} must be a number > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class ConnectionOptions:
    """How a structured-mode connection buffers, overflows and closes.

    Attributes:
      inbound_buffer: how many received messages the pump holds for the application.
      overflow: what the pump does when that buffer is full and another message arrives:

        * ``"block"`` (default): stop reading. The server's own queue (10 messages in
          hypercorn) fills, then TCP pushes back on the client. Nothing is lost, but while
          the application does not read, the server also stops answering pings and noticing
          a close.
        * ``"drop_oldest"``: discard the oldest buffered message and keep reading; the count
          is in ``statistics().dropped``. For feeds where only the latest state matters.
        * ``"close"``: close the connection with ``overflow_close_code``; the application
          gets the messages buffered so far, then ``WebSocketDisconnect``.
      overflow_close_code: the code for ``overflow="close"``: 1008 (policy violation,
        default), 1009 (too big) or 1013 (try again later) are the usual choices.
      outbound_buffer: how many messages ``send_*`` may queue without waiting for the
        server. 0 (default): each send returns once the server has taken the message, which
        keeps backpressure exact. With a buffer, a send returns once queued and a writer
        task delivers the queue in order; messages still queued when the peer leaves are
        dropped.
      shutdown_code: the close code sent when the block is cancelled from outside (server
        shutdown): 1012 (service restart, default) or 1001 (going away).
      close_timeout: the most seconds a close waits for a send already in flight.
    """

    inbound_buffer: int = attrs.field(default=16, validator=_positive_int)
    overflow: OverflowPolicy = attrs.field(default="block", validator=_overflow)
    overflow_close_code: int = attrs.field(default=1008, validator=_close_code)
    outbound_buffer: int = attrs.field(default=0, validator=_non_negative_int)
    shutdown_code: int = attrs.field(default=1012, validator=_shutdown_code)
    close_timeout: float = attrs.field(default=5.0, validator=_positive_float)

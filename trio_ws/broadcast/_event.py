"""``BroadcastEvent``: one message received on a channel, and its id in the channel's history."""

from __future__ import annotations

import json
from typing import Any

import attrs

from .._exceptions import InvalidJSONMessage

__all__ = ["BroadcastEvent", "parse_event_id"]

#: Both halves of a Redis stream id are unsigned 64-bit numbers.
_LIMIT = 2**64


def parse_event_id(value: object) -> tuple[int, int]:
    """The position of an event id (``"1712345678901-0"``, or ``"42"`` for ``"42-0"``).

    Raises:
      TypeError: ``value`` is not a str.
      ValueError: ``value`` is not an id that `BroadcastEvent.id` could have given.
    """
    if not isinstance(value, str):
        raise TypeError(f"an event id is a str (BroadcastEvent.id), got {value!r}")
    first, sep, second = value.partition("-")
    if (
        len(value) <= 41
        and first.isascii()
        and first.isdigit()
        and (not sep or (second.isascii() and second.isdigit()))
        and int(first) < _LIMIT
        and int(second or 0) < _LIMIT
    ):
        return (int(first), int(second or 0))
    raise ValueError(
        f"not a broadcast event id: {value!r} (expected BroadcastEvent.id, like '1712345678901-0')"
    )


@attrs.frozen(eq=False)
class BroadcastEvent:
    """One message published on a channel, as a subscriber receives it.

    Attributes:
      channel: the channel it was published on.
      message: the message, ``str`` or ``bytes`` as it was published.
    """

    channel: str
    message: str | bytes
    #: Where the message sits in the channel's history: the Redis stream id as two numbers, or
    #: ``(counter, 0)`` in memory; ``None`` when the broadcast keeps no history. Used to join
    #: history and live messages without duplicates.
    _position: tuple[int, int] | None = attrs.field(default=None, alias="position", repr=False)

    @property
    def position(self) -> tuple[int, int] | None:
        """The message's place in the channel's history, ``None`` without history."""
        return self._position

    @property
    def id(self) -> str | None:
        """The message's id in its channel's history, ``None`` when the broadcast keeps none.

        On Redis it is the id of the message's stream entry (``"1712345678901-0"``); in
        memory a counter, written the same way (``"42-0"``). Ids of one channel grow with
        every message. Pass the last one a client saw to ``subscribe(..., since=id)`` or
        ``forward(..., since=id)`` to get what it missed.
        """
        if self._position is None:
            return None
        first, second = self._position
        return f"{first}-{second}"

    def json(self) -> Any:
        """The message decoded as JSON.

        Raises:
          InvalidJSONMessage: the message is not valid JSON (``.data`` holds it).
        """
        try:
            return json.loads(self.message)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidJSONMessage(self.message, str(exc)) from exc

"""``BroadcastEvent``: one message received on a channel."""

from __future__ import annotations

import json
from typing import Any

import attrs

from .._exceptions import InvalidJSONMessage

__all__ = ["BroadcastEvent"]


@attrs.frozen(eq=False)
class BroadcastEvent:
    """One message published on a channel, as a subscriber receives it.

    Attributes:
      channel: the channel it was published on.
      message: the message, ``str`` or ``bytes`` as it was published.
    """

    channel: str
    message: str | bytes
    #: Where the message sits in the channel's history (the Redis stream id, or a counter in
    #: memory); ``None`` when the broadcast keeps no history. Used to join history and live
    #: messages without duplicates.
    _position: tuple[int, int] | None = attrs.field(default=None, alias="position", repr=False)

    @property
    def position(self) -> tuple[int, int] | None:
        """The message's place in the channel's history, ``None`` without history."""
        return self._position

    def json(self) -> Any:
        """The message decoded as JSON.

        Raises:
          InvalidJSONMessage: the message is not valid JSON (``.data`` holds it).
        """
        try:
            return json.loads(self.message)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidJSONMessage(self.message, str(exc)) from exc

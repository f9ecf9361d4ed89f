"""Typing for the ASGI interface: scopes, messages and the two callables.

ASGI messages are plain dicts whose keys depend on their ``"type"``. They are typed loosely
here on purpose: the server is outside our control, so every message we read is *validated*
by `trio_ws._protocol` rather than trusted through a ``cast``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeAlias

#: The connection scope an ASGI server passes to the application.
Scope: TypeAlias = MutableMapping[str, Any]
#: One ASGI event, in either direction.
Message: TypeAlias = MutableMapping[str, Any]
#: The ASGI ``receive`` callable: returns the next event from the server.
Receive: TypeAlias = Callable[[], Awaitable[Message]]
#: The ASGI ``send`` callable: hands one event to the server.
Send: TypeAlias = Callable[[Message], Awaitable[None]]
#: An ASGI 3 application.
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

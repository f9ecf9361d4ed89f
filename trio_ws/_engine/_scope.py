"""The ASGI scope of a websocket upgrade request served by the engine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

from websockets.exceptions import InvalidHeader
from websockets.headers import parse_subprotocol

if TYPE_CHECKING:
    from websockets.http11 import Request

    from .._types import Scope

__all__ = ["ASGI_SPEC_VERSION", "build_scope", "offered_subprotocols"]

#: The ASGI websocket spec version the engine implements: 2.4's ``OSError`` from ``send`` after
#: the client left, 2.5's ``reason`` in ``websocket.disconnect``.
ASGI_SPEC_VERSION: Final = "2.5"


#: ``scope["asgi"]``, the same for every connection.
_ASGI: Final = {"version": "3.0", "spec_version": ASGI_SPEC_VERSION}
#: Header names and values every upgrade request carries, as the scope's bytes: one shared
#: object each instead of one per connection (an idle server holds thousands of scopes).
_COMMON_NAMES: Final = {
    spelling: spelling.lower().encode("latin-1")
    for name in (
        "Host",
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Protocol",
        "Origin",
        "User-Agent",
        "Accept-Encoding",
        "Accept-Language",
        "Cache-Control",
        "Pragma",
        "Cookie",
    )
    for spelling in (name, name.lower())
}
_COMMON_VALUES: Final = {
    value: value.encode("latin-1")
    for value in (
        "websocket",
        "Upgrade",
        "upgrade",
        "13",
        "permessage-deflate; client_max_window_bits",
        "no-cache",
        "gzip, deflate, br, zstd",
        "gzip, deflate, br",
    )
}


#: Whole header lines every upgrade request of a browser or a common client carries, as the
#: scope's ``(name, value)`` pairs (tuples: safe to share), by ``(name, value)`` as sent.
_COMMON_HEADERS: Final = {
    (spelling, value): (_COMMON_NAMES[spelling], _COMMON_VALUES[value])
    for name, values in (
        ("Upgrade", ("websocket",)),
        ("Connection", ("Upgrade", "upgrade")),
        ("Sec-WebSocket-Version", ("13",)),
        ("Sec-WebSocket-Extensions", ("permessage-deflate; client_max_window_bits",)),
        ("Cache-Control", ("no-cache",)),
        ("Pragma", ("no-cache",)),
        ("Accept-Encoding", ("gzip, deflate, br, zstd", "gzip, deflate, br")),
    )
    for spelling in (name, name.lower())
    for value in values
}


def _scope_header(line: tuple[str, str]) -> tuple[bytes, bytes]:
    common = _COMMON_HEADERS.get(line)
    if common is not None:
        return common
    name, value = line
    return (
        _COMMON_NAMES.get(name) or name.lower().encode("latin-1"),
        _COMMON_VALUES.get(value) or value.encode("latin-1", "surrogateescape"),
    )


def offered_subprotocols(request: Request) -> list[str]:
    """The subprotocols the client offered, in its order.

    Raises:
      websockets.exceptions.InvalidHeader: a malformed ``Sec-WebSocket-Protocol`` header.
    """
    offered: list[str] = []
    for value in request.headers.get_all("Sec-WebSocket-Protocol"):
        offered.extend(parse_subprotocol(value))
    return offered


def build_scope(
    request: Request,
    *,
    secure: bool,
    client: Any,
    server: Any,
    root_path: str,
    state: dict[str, Any],
    extensions: dict[str, Any],
) -> Scope:
    """The ``websocket`` scope for ``request`` (header names lower-cased, values as sent).

    Raises:
      websockets.exceptions.InvalidHeader: a malformed ``Sec-WebSocket-Protocol`` header.
    """
    raw_path, _, query = request.path.partition("?")
    headers = [_scope_header(line) for line in request.headers.raw_items()]
    try:
        subprotocols = offered_subprotocols(request)
    except InvalidHeader:
        raise
    return {
        "type": "websocket",
        "asgi": _ASGI,
        "http_version": "1.1",
        "scheme": "wss" if secure else "ws",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": root_path,
        "headers": headers,
        "client": client,
        "server": server,
        "subprotocols": subprotocols,
        "state": state,
        "extensions": extensions,
    }

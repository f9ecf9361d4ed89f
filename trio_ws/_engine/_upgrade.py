"""Reading a connection's first request and deciding who serves it.

The request head is parsed by ``websockets``' ``ServerProtocol`` itself (the same object that
then drives the websocket), so an upgrade request is parsed exactly once. Anything it does not
parse as an HTTP/1.1 ``GET`` asking for ``Upgrade: websocket`` goes to hypercorn, together with
the bytes already read: other methods, HTTP/1.0, malformed heads, plain requests.

Only the head is fed to ``websockets``: what a client sent after it without waiting for the 101
(frames; RFC 6455 §4.1 says it must wait, some do not) is kept raw as `Upgrade.early`, and the
connection parses it once the websocket is open, with the extensions the 101 negotiated.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

import attrs
import trio
from websockets.http11 import Request
from websockets.protocol import Protocol

if TYPE_CHECKING:
    from websockets.server import ServerProtocol

__all__ = ["Upgrade", "parse_upgrade", "read_upgrade"]

_RECEIVE_SIZE: Final = 65536
_HEAD_END: Final = b"\r\n\r\n"


@attrs.frozen
class Upgrade:
    """A websocket upgrade request, parsed by ``protocol`` (fed the request head only)."""

    request: Request
    protocol: ServerProtocol
    #: The bytes read so far (to replay them to hypercorn when it must serve the request).
    head: bytes
    #: What the client sent after the request head (the start of its frames), not parsed yet.
    early: bytes = b""


def _asks_for_websocket(request: Request) -> bool:
    return any("websocket" in value.lower() for value in request.headers.get_all("Upgrade"))


def _head_end(head: bytes | bytearray, start: int = 0) -> int:
    """Where the request head in ``head`` ends (after its empty line), or -1 if not yet."""
    end = head.find(_HEAD_END, start)
    return end if end < 0 else end + len(_HEAD_END)


def _upgrade(request: Request, protocol: ServerProtocol, head: bytes, early: bytes) -> Upgrade:
    """The `Upgrade`; ``protocol`` then parses frames with a parser of its own.

    ``ServerProtocol``'s parser is one generator for the handshake and the frames: it keeps
    the parsed ``Request`` (with its path and header objects) as a local for the connection's
    lifetime. Only the head was fed to it, so it waits for the first frame exactly where a
    fresh ``Protocol.parse`` (websockets' frame parser, which it runs next) starts: the fresh
    one takes over and the request is not kept.
    """
    if not protocol.reader.buffer:
        protocol.parser = Protocol.parse(protocol)
        next(protocol.parser)  # to its first wait, as websockets starts its parsers
    return Upgrade(request, protocol, head, early)


def parse_upgrade(protocol: ServerProtocol, head: bytes) -> Upgrade | None:
    """Parse a whole request head that hypercorn already read (and handed back) into ``protocol``.

    ``head`` may go on after the request head (what the client sent after it): that part is
    not fed to ``protocol`` but kept as `Upgrade.early`.

    Returns:
      an `Upgrade`, or ``None`` when ``websockets`` refuses the head: ``protocol`` then holds
      its answer in ``data_to_send()`` (431, 414) or none (a body, a malformed line: the caller
      answers 400), and ``handshake_exc`` says why.
    """
    end = _head_end(head)
    protocol.receive_data(head if end < 0 else head[:end])
    events = protocol.events_received()
    if events and isinstance(events[0], Request) and _asks_for_websocket(events[0]):
        return _upgrade(events[0], protocol, head, b"" if end < 0 else head[end:])
    return None


async def read_upgrade(
    stream: trio.abc.Stream, protocol: ServerProtocol, *, limit: int, patience: float
) -> Upgrade | bytes | None:
    """Read the first request head from ``stream`` into ``protocol``.

    Returns:
      an `Upgrade` for a websocket upgrade request; otherwise the bytes read so far (the
      connection is hypercorn's); ``None`` when the client closed or went quiet for
      ``patience`` seconds before sending a whole head (nothing to answer).

    Raises:
      Nothing on network errors: a broken connection is reported as ``None``.

    Cancellation: whatever was read is dropped with the connection.
    """
    head = bytearray()
    ready = _read_now(stream)
    if ready is not None:  # the head is often there already: no deadline, no wait
        if not ready:
            return None
        taken = _take(head, ready, protocol)
        if taken is not None:
            return taken
    with trio.move_on_after(patience):
        while len(head) <= limit:
            try:
                data = await stream.receive_some(_RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return None
            if not data:
                return bytes(head) if head else None
            taken = _take(head, data, protocol)
            if taken is not None:
                return taken
        return bytes(head)
    return bytes(head) if head else None


def _read_now(stream: trio.abc.Stream) -> bytes | None:
    """What a plain socket holds now (``b""`` at EOF), or ``None`` (nothing yet, an error the
    waiting read will report, or not a plain socket)."""
    if type(stream) is not trio.SocketStream:
        return None
    try:
        return os.read(stream.socket.fileno(), _RECEIVE_SIZE)
    except OSError:
        return None


def _take(
    head: bytearray, data: bytes | bytearray, protocol: ServerProtocol
) -> Upgrade | bytes | None:
    """Add ``data`` to the head read so far; what `read_upgrade` returns once it is decided,
    else ``None`` (read more).

    Only the request head is fed to ``protocol``; what follows it in ``data`` becomes
    `Upgrade.early`.
    """
    before = len(head)
    head += data
    end = _head_end(head, max(0, before - len(_HEAD_END) + 1))
    if end < 0:
        protocol.receive_data(bytes(data))
    else:
        protocol.receive_data(bytes(head[before:end]))
    events = protocol.events_received()
    if events:
        request = events[0]
        if isinstance(request, Request) and _asks_for_websocket(request):
            early = b"" if end < 0 else bytes(head[end:])
            return _upgrade(request, protocol, bytes(head), early)
        return bytes(head)
    if protocol.handshake_exc is not None or protocol.data_to_send():
        return bytes(head)  # websockets could not parse it: hypercorn answers it
    return None

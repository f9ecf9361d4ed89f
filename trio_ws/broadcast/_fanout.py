"""Fan-out without a task switch per socket: frame a message once, write it to every socket
that can take it now, in the publisher's own pass.

Without this, a published message wakes each subscriber's ``forward`` task, which then sends
through its websocket: one task switch and one full ASGI send per socket. Here, while
`Broadcast.forward` runs, its subscriber carries a *direct writer*: when the subscriber's
buffer is empty (nothing older is waiting), `Subscriber.offer` first asks the writer to put the
message straight onto the socket. The writer frames each message once for all sockets (server
frames are not masked, so an uncompressed frame is the same bytes for every connection) and
hands it to the server's non-waiting writer (the ``trio_ws.send_frame_nowait`` scope
extension of ``trio_ws.serve``'s engine), which writes it only if the socket takes it now.
On a connection with permessage-deflate (browsers' default) the engine compresses the frame's
payload with that connection's own compressor, still in the publisher's pass, and only once
the socket is known to take bytes: a message that is not written was not compressed.

Whenever that is not possible the message goes to the subscriber's buffer exactly as before,
and the ``forward`` task sends it: a socket whose buffer is full, a send in progress on that
connection, a connection being closed or gone, TLS, structured mode with an outbound buffer,
or a server without the extension (plain hypercorn). So each subscriber keeps its bound and
overflow policy, ordering is kept (the direct path is only taken with nothing buffered), and a
client that left is still noticed by the ``forward`` task's send.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import TYPE_CHECKING, Final

from websockets.frames import Frame, Opcode

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from .._websocket import WebSocket
    from ._event import BroadcastEvent
    from ._subscriber import Subscriber

__all__ = ["direct_delivery", "frame_of"]

_TEXT: Final = Opcode.TEXT
_BINARY: Final = Opcode.BINARY


class _LastFrame:
    """The frame of the event being delivered: the hub offers one event to every subscriber
    in a row, so remembering the last one frames each message once. The event is held weakly
    and its frame dropped with it, so no message outlives its delivery here."""

    __slots__ = ("event", "frame")

    def __init__(self) -> None:
        self.event: weakref.ref[BroadcastEvent] | None = None
        self.frame = b""

    def forget(self, gone: weakref.ref[BroadcastEvent]) -> None:
        if self.event is gone:
            self.event, self.frame = None, b""


_last = _LastFrame()


def _frame(message: str | bytes) -> bytes:
    if isinstance(message, str):
        return Frame(_TEXT, message.encode()).serialize(mask=False)
    return Frame(_BINARY, message).serialize(mask=False)


def frame_of(event: BroadcastEvent) -> bytes:
    """The unmasked, uncompressed websocket frame carrying ``event``'s message."""
    last = _last.event
    if last is not None and last() is event:
        return _last.frame
    frame = _frame(event.message)
    _last.event, _last.frame = weakref.ref(event, _last.forget), frame
    return frame


@contextlib.contextmanager
def direct_delivery(
    subscriber: Subscriber,
    websocket: WebSocket,
    render: Callable[[BroadcastEvent], str | bytes] | None = None,
) -> Iterator[None]:
    """While inside, ``subscriber`` writes messages straight to ``websocket``'s socket when it
    can (see the module's docstring); on a server that cannot, nothing changes.

    With ``render``, what goes out is ``render(event)``, framed for this socket alone. A
    ``render`` that raises or returns neither ``str`` nor ``bytes`` is never the publisher's
    error: the message takes the buffered path, and the ``forward`` task, rendering it again,
    raises there."""
    # anything with the WebSocket API can be forwarded to; only trio_ws's own has the writer
    frame_writer = getattr(websocket, "_frame_writer", None)
    write_frame: Callable[[bytes], bool] | None = frame_writer() if frame_writer else None
    if write_frame is None:
        yield
        return

    def deliver(event: BroadcastEvent) -> bool:
        return write_frame(frame_of(event))

    def deliver_rendered(event: BroadcastEvent) -> bool:
        try:
            message = render(event)  # type: ignore[misc]  # not None here
        except Exception:
            return False
        if not isinstance(message, (str, bytes)):
            return False
        return write_frame(_frame(message))

    subscriber.direct = deliver if render is None else deliver_rendered
    try:
        yield
    finally:
        subscriber.direct = None

"""``accept_connections``: the server's accept loop, readable at the file-descriptor limit.

Like ``trio.serve_listeners``, it retries (every 0.1 s) when ``accept()`` fails for lack of
resources (``EMFILE``, ``ENFILE``, ``ENOBUFS``, ``ENOMEM``), since connections that end free
descriptors. Unlike it, it does not log a traceback per retry: the condition is logged once
when it starts, then as a count every 10 s, then once when accepting works again
(`RepeatedCondition`).

On a plain TCP listener (`PlainSocketListener`) each wake-up of the loop also takes the
connections already waiting in the backlog (up to `ACCEPT_BATCH`) without a schedule point
each, as uvloop does: under a burst of handshakes one task step accepts many.
"""

from __future__ import annotations

import errno
import logging
import os
import resource
from typing import TYPE_CHECKING, Any, Final

import trio

from ._repeated import RepeatedCondition

if TYPE_CHECKING:
    import socket as stdlib_socket
    from collections.abc import Awaitable, Callable

__all__ = [
    "ACCEPT_BATCH",
    "ACCEPT_CAPACITY_ERRNOS",
    "PlainSocketListener",
    "accept_connections",
    "close_forcefully",
]

#: accept() errors that mean "no resources now": retried, not raised.
ACCEPT_CAPACITY_ERRNOS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: Seconds between two accept() attempts while resources are short.
RETRY_AFTER: Final = 0.1
#: The most connections one wake-up of the accept loop takes from a plain listener's backlog.
ACCEPT_BATCH: Final = 64
#: accept() errors about one connection that failed before it was taken (the client reset it,
#: its route went away): that connection is skipped, the next one taken.
_SKIPPED_ACCEPT_ERRNOS: Final = frozenset(
    getattr(errno, name)
    for name in (
        "ECONNABORTED",
        "EPROTO",
        "EPERM",
        "ENETDOWN",
        "ENETUNREACH",
        "EHOSTDOWN",
        "EHOSTUNREACH",
        "ENONET",
        "ENOPROTOOPT",
        "EOPNOTSUPP",
    )
    if hasattr(errno, name)
)

logger = logging.getLogger("trio_ws.server")


def _describe(error: OSError) -> str:
    detail = os.strerror(error.errno) if error.errno else str(error)
    if error.errno == errno.EMFILE:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        detail += f" (this process may open {soft} files: raise `ulimit -n`)"
    return detail


class PlainSocketListener(trio.abc.Listener[trio.SocketStream]):
    """A listening TCP socket without TLS: ``trio.SocketListener`` (whose ``accept`` and
    ``aclose`` it uses), plus `accept_waiting`, which takes a connection already in the backlog
    without a schedule point.

    ``sock`` must be bound and listening; the listener owns it from now on.
    """

    def __init__(self, sock: stdlib_socket.socket) -> None:
        self._listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
        self._socket = sock  # the same socket, non-blocking now

    @property
    def socket(self) -> trio.socket.SocketType:
        """The listening socket (trio's)."""
        return self._listener.socket

    async def accept(self) -> trio.SocketStream:
        """The next connection, waiting for one if none is there (as ``trio.SocketListener``).

        Raises:
          OSError: as ``trio.SocketListener.accept`` (``EMFILE`` and the like).
          trio.ClosedResourceError: the listener was closed.

        Cancellation: a checkpoint; nothing was accepted when it is cancelled.
        """
        return await self._listener.accept()

    def accept_waiting(self) -> trio.SocketStream | None:
        """A connection already waiting in the backlog, or ``None`` if there is none now.

        Never waits and is not a checkpoint. A connection that failed before it was taken
        (``ECONNABORTED`` and the like) is skipped, as ``accept`` does.

        Raises:
          OSError: ``accept()`` failed otherwise (``EMFILE`` and the like; a closed listener
            raises ``EBADF``).
        """
        while True:
            try:
                sock, _address = self._socket.accept()
            except BlockingIOError:
                return None
            except OSError as error:
                if error.errno in _SKIPPED_ACCEPT_ERRNOS:
                    continue
                raise
            return trio.SocketStream(trio.socket.from_stdlib_socket(sock))

    async def aclose(self) -> None:
        """Close the listening socket.

        Cancellation: as ``trio.SocketListener.aclose`` (closed even when cancelled).
        """
        await self._listener.aclose()


async def _accept_some(listener: trio.abc.Listener[Any]) -> list[Any]:
    """The next connection, plus those already waiting behind it on a `PlainSocketListener`
    (at most `ACCEPT_BATCH` in all).

    Raises:
      OSError: the first ``accept()`` failed (an error after it only ends the batch: the next
        call meets it again and reports it).
    """
    streams = [await listener.accept()]
    if isinstance(listener, PlainSocketListener):
        try:
            while len(streams) < ACCEPT_BATCH:
                stream = listener.accept_waiting()
                if stream is None:
                    break
                streams.append(stream)
        except OSError:
            pass
    return streams


async def close_forcefully(stream: trio.abc.AsyncResource) -> None:
    """``trio.aclose_forcefully(stream)``, for a plain socket without its cancelled checkpoint
    (a cancel scope and a ``Cancelled`` raised and caught: about a tenth of a handshake's CPU
    with two per connection). Closing the socket is all ``SocketStream.aclose`` does besides.

    Cancellation: not a checkpoint for a ``trio.SocketStream``; otherwise as
    ``trio.aclose_forcefully``.
    """
    if type(stream) is trio.SocketStream:
        stream.socket.close()
    else:
        await trio.aclose_forcefully(stream)


async def accept_connections(
    listener: trio.abc.Listener[Any],
    handler: Callable[[Any], Awaitable[object]],
    nursery: trio.Nursery,
    *,
    retry_after: float = RETRY_AFTER,
) -> None:
    """Accept connections on ``listener`` for ever; run ``handler(stream)`` for each in
    ``nursery``. The handler owns the stream: it closes it, however it ends (the task's
    coroutine is the handler's own, with no frame of ours around it for the connection's
    lifetime).

    Raises:
      OSError: ``accept()`` failed for another reason than a lack of resources.

    Cancellation:
      The only way it ends; a connection accepted before is already the nursery's.
    """
    shortage = RepeatedCondition(
        logger, "trio_ws: cannot accept connections", clock=trio.current_time
    )
    while True:
        try:
            streams = await _accept_some(listener)
        except OSError as error:
            if error.errno not in ACCEPT_CAPACITY_ERRNOS:
                raise
            shortage.occurred(_describe(error))
            await trio.sleep(retry_after)
            continue
        shortage.ended()
        for stream in streams:
            nursery.start_soon(handler, stream)

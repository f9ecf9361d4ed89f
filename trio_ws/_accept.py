"""``accept_connections``: the server's accept loop, readable at the file-descriptor limit.

Like ``trio.serve_listeners``, it retries (every 0.1 s) when ``accept()`` fails for lack of
resources (``EMFILE``, ``ENFILE``, ``ENOBUFS``, ``ENOMEM``), since connections that end free
descriptors. Unlike it, it does not log a traceback per retry: the condition is logged once
when it starts, then as a count every 10 s, then once when accepting works again
(`RepeatedCondition`).
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
    from collections.abc import Awaitable, Callable

__all__ = ["ACCEPT_CAPACITY_ERRNOS", "accept_connections", "close_forcefully"]

#: accept() errors that mean "no resources now": retried, not raised.
ACCEPT_CAPACITY_ERRNOS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: Seconds between two accept() attempts while resources are short.
RETRY_AFTER: Final = 0.1

logger = logging.getLogger("trio_ws.server")


def _describe(error: OSError) -> str:
    detail = os.strerror(error.errno) if error.errno else str(error)
    if error.errno == errno.EMFILE:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        detail += f" (this process may open {soft} files: raise `ulimit -n`)"
    return detail


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
            stream = await listener.accept()
        except OSError as error:
            if error.errno not in ACCEPT_CAPACITY_ERRNOS:
                raise
            shortage.occurred(_describe(error))
            await trio.sleep(retry_after)
            continue
        shortage.ended()
        nursery.start_soon(handler, stream)

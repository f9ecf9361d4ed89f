"""``ReplayStream``: a trio stream that first returns bytes that were already read from it."""

from __future__ import annotations

from typing import Any

import trio

__all__ = ["ReplayStream"]


class ReplayStream:
    """Wraps a stream so that its first ``receive_some`` returns ``head``.

    Used to hand a connection to hypercorn after the engine read the start of the first
    request. Every other attribute (``send_all``, ``aclose``, ``socket``, TLS methods such as
    ``do_handshake``) is the wrapped stream's, so hypercorn sees the stream it would have seen.
    """

    def __init__(self, stream: trio.abc.Stream, head: bytes) -> None:
        self._stream = stream
        self._head = head

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        """The replayed bytes first (a checkpoint), then the wrapped stream's.

        Cancellation: cancel-safe, as the wrapped stream's ``receive_some`` is.
        """
        if self._head:
            await trio.lowlevel.checkpoint()
            head, self._head = self._head, b""
            return head
        return await self._stream.receive_some(max_bytes)

    def unwrapped(self) -> Any:
        """The wrapped stream, once the replayed bytes were read (else this stream itself)."""
        return self if self._head else self._stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

"""Byte transport under an engine connection: a plain TCP socket, or any trio stream (TLS).

`SocketTransport` writes and reads the socket's file descriptor directly when it is
ready (no wrapper layers, one checkpoint per call, as trio's own socket methods take) and
waits with ``trio.lowlevel.wait_readable``/``wait_writable`` otherwise. That also lets it
tell a cancelled write that put nothing on the wire from one that put part of a frame there.
`StreamTransport` is the same interface over ``send_all``/``receive_some``.
"""

from __future__ import annotations

import os
from typing import Final

import trio

__all__ = ["Broken", "PartialWrite", "SocketTransport", "StreamTransport", "transport_for"]

_RECEIVE_SIZE: Final = 65536


class Broken(Exception):
    """The connection failed, was closed by the peer (on write) or was aborted."""


class PartialWrite(Exception):
    """A write was cancelled after part of its bytes went out (``__cause__`` is the Cancelled)."""


class StreamTransport:
    """Over any trio stream (TLS connections)."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream

    async def receive(self) -> bytes | bytearray:
        """Some bytes, ``b""`` at EOF.

        Raises:
          Broken: the connection failed or was closed.

        Cancellation: cancel-safe.
        """
        try:
            return await self.stream.receive_some(_RECEIVE_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise Broken from exc

    async def write(self, data: bytes) -> None:
        """Write all of ``data``.

        Raises:
          Broken: the connection failed or was closed.
          PartialWrite: cancelled; over a generic stream some bytes may have gone out.
        """
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise Broken from exc
        except trio.Cancelled as exc:
            raise PartialWrite from exc

    async def send_eof(self) -> None:
        """Half-close if the stream can (TLS cannot; the connection is closed after)."""
        send_eof = getattr(self.stream, "send_eof", None)
        if send_eof is not None:
            try:
                await send_eof()
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise Broken from exc


class SocketTransport(StreamTransport):
    """Over a ``trio.SocketStream``: the socket's descriptor, used directly."""

    def __init__(self, stream: trio.SocketStream) -> None:
        super().__init__(stream)
        self.socket = stream.socket

    async def receive(self) -> bytes | bytearray:
        sock = self.socket
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            fd = sock.fileno()
            if fd < 0:
                raise Broken("the socket was closed")
            try:
                data = os.read(fd, _RECEIVE_SIZE)
            except BlockingIOError:
                try:
                    await trio.lowlevel.wait_readable(sock)
                except trio.ClosedResourceError as exc:
                    raise Broken from exc
                continue
            except OSError as exc:
                raise Broken from exc
            await trio.lowlevel.cancel_shielded_checkpoint()
            return data

    async def write(self, data: bytes) -> None:
        """Write all of ``data``; ``trio.Cancelled`` only if not one byte went out.

        Raises:
          Broken: the connection failed or was closed.
          PartialWrite: cancelled after part of ``data`` went out.
        """
        sock = self.socket
        view = memoryview(data)
        total = 0
        size = len(data)
        while True:
            fd = sock.fileno()
            if fd < 0:
                raise Broken("the socket was closed")
            try:
                total += os.write(fd, view[total:])
            except BlockingIOError:
                pass
            except OSError as exc:
                raise Broken from exc
            if total >= size:
                break
            try:
                await trio.lowlevel.wait_writable(sock)
            except trio.ClosedResourceError as exc:
                raise Broken from exc
            except trio.Cancelled as exc:
                if total:
                    raise PartialWrite from exc
                raise
        await trio.lowlevel.cancel_shielded_checkpoint()


def transport_for(stream: trio.abc.Stream) -> StreamTransport:
    """The fastest transport for ``stream``."""
    if isinstance(stream, trio.SocketStream):
        return SocketTransport(stream)
    return StreamTransport(stream)

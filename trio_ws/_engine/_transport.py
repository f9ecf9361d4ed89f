"""Byte transport under an engine connection: a plain TCP socket, or any trio stream (TLS).

`SocketTransport` writes and reads the socket's file descriptor directly when it is
ready (no wrapper layers, one checkpoint per call, as trio's own socket methods take) and
waits with ``trio.lowlevel.wait_readable``/``wait_writable`` otherwise. That also lets it
tell a cancelled write that put nothing on the wire from one that put part of a frame there.
`StreamTransport` is the same interface over ``send_all``/``receive_some``.
"""

from __future__ import annotations

import os
import select
import socket as stdlib_socket
from typing import TYPE_CHECKING, Any, Final, overload

import trio

from ._poller import ParkedReader, notify_closing, park_reader

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

__all__ = ["Broken", "PartialWrite", "SocketTransport", "StreamTransport", "transport_for"]

#: The most one read takes. A 64 KiB message (with its header) fits in one read: with 64 KiB
#: it took two reads and two parser resumptions. ``os.read`` returns only what was read, so a
#: small message costs no more (measured: 32 B round trips unchanged, 64 KiB 0.7x the CPU).
_RECEIVE_SIZE: Final = 262144


class Broken(Exception):
    """The connection failed, was closed by the peer (on write) or was aborted."""


class PartialWrite(Exception):
    """A write was cancelled after part of its bytes went out (``__cause__`` is the Cancelled).

    ``written`` is how many bytes went out, or ``None`` when the stream cannot tell (TLS).
    """

    def __init__(self, written: int | None = None) -> None:
        super().__init__(written)
        self.written = written


class StreamTransport:
    """Over any trio stream (TLS connections)."""

    __slots__ = ("poll", "stream")

    #: Whether a write cancelled before its first byte leaves the stream usable (a socket
    #: does; a cancelled ``SSLStream.send_all`` breaks the stream).
    cancel_safe_write = False

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.poll: select.poll | None = None  # made on the first wait_writable

    @overload
    async def receive(
        self, parked: None = None, *, wait_first: bool = False
    ) -> bytes | bytearray: ...
    @overload
    async def receive(
        self, parked: Callable[[], bool], *, wait_first: bool = False
    ) -> bytes | bytearray | None: ...
    async def receive(
        self, parked: Callable[[], bool] | None = None, *, wait_first: bool = False
    ) -> bytes | bytearray | None:
        """Some bytes, ``b""`` at EOF.

        ``parked`` (plain sockets only; ignored here): if the read has to wait, park on the
        run's read poller instead (`._poller`): ``parked()`` is called each time the socket is
        readable, reads and handles what arrived itself, and returns true to end the wait;
        ``receive`` then returns ``None``. ``wait_first`` (plain sockets only; ignored here):
        the caller checked cancellation and found nothing to read just before.

        Raises:
          Broken: the connection failed or was closed.
          Exception: whatever ``parked`` raised.

        Cancellation: cancel-safe (what ``parked`` handled stays handled).
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

    def write_nowait(self, data: bytes | memoryview) -> int:
        """Write what the connection takes without waiting; how many bytes went out.

        Over a generic stream nothing can be written without waiting: always 0.

        Raises:
          Broken: the connection failed or was closed.
        """
        return 0

    async def wait_writable(self) -> None:
        """Return once a write would probably not block (at once if it would not).

        Raises:
          Broken: the connection was closed.

        Cancellation: cancel-safe; nothing was written.
        """
        raw = getattr(getattr(self.stream, "transport_stream", None), "socket", None)
        if raw is not None and _has_room(self, raw):
            return  # TLS over a socket with room (send_all leaves nothing buffered)
        try:
            await self.stream.wait_send_all_might_not_block()
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise Broken from exc

    async def send_eof(self) -> None:
        """Half-close if the stream can (TLS cannot; the connection is closed after)."""
        send_eof = getattr(self.stream, "send_eof", None)
        if send_eof is not None:
            try:
                await send_eof()
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise Broken from exc

    def notify_closing(self) -> None:
        """The connection is about to be closed (a read waiting on a trio stream is woken by
        the stream's own close)."""


class SocketTransport(StreamTransport):
    """Over a ``trio.SocketStream``: the socket's descriptor, used directly."""

    __slots__ = ("_may_skip", "_parked", "alternate_schedule_points", "socket")

    cancel_safe_write = True

    def __init__(self, stream: trio.SocketStream) -> None:
        super().__init__(stream)
        self.socket = stream.socket
        #: Whether a read that did not have to wait may skip its schedule point when the call
        #: before it on this transport had one: then at least every other call is a schedule
        #: point (a round trip yields once, not twice: after its write, which lets the peer
        #: answer before the read), and every write and every call that waits is one.
        #: Cancellation is unaffected: ``receive`` checks it on entry.
        self.alternate_schedule_points = False
        self._may_skip = False
        #: A read parked on the poller, while it is (it keeps the descriptor: the socket may
        #: be closed before `notify_closing` is called).
        self._parked: ParkedReader | None = None

    def write_nowait(self, data: bytes | memoryview) -> int:
        fd = self.socket.fileno()
        if fd < 0:
            raise Broken("the socket was closed")
        total = 0
        size = len(data)
        while total < size:
            try:
                total += os.write(fd, memoryview(data)[total:] if total else data)
            except BlockingIOError:
                break
            except OSError as exc:
                raise Broken from exc
        return total

    async def wait_writable(self) -> None:
        if _has_room(self, self.socket):
            return  # room in the send buffer now: no checkpoint needed (the write is one)
        try:
            await trio.lowlevel.wait_writable(self.socket)
        except trio.ClosedResourceError as exc:
            raise Broken from exc

    def send_eof_nowait(self) -> None:
        """Half-close now.

        Raises:
          Broken: the connection failed or was closed.
        """
        try:
            self.socket.shutdown(stdlib_socket.SHUT_WR)
        except OSError as exc:
            raise Broken from exc

    def read_nowait(self) -> bytes | None:
        """What the socket holds now (``b""`` at EOF), or ``None`` if a read would wait.

        Raises:
          Broken: the connection failed or was closed.
        """
        fd = self.socket.fileno()
        if fd < 0:
            raise Broken("the socket was closed")
        try:
            return os.read(fd, _RECEIVE_SIZE)
        except BlockingIOError:
            return None
        except OSError as exc:
            raise Broken from exc

    def read_now(self) -> tuple[bytes, bool] | None:
        """`receive` without its awaits, for a caller that checked cancellation itself: what
        the socket holds now (``b""`` at EOF) and whether the caller must now take the
        schedule point `receive` would have taken (``cancel_shielded_checkpoint``), or
        ``None`` if the read would wait (then ``receive(..., wait_first=True)`` waits).

        The engine's per-message read is this plain call in its own ``receive``, not two
        coroutine layers (each is made and resumed per message).

        Raises:
          Broken: the connection failed or was closed.
        """
        fd = self.socket.fileno()
        if fd < 0:
            raise Broken("the socket was closed")
        try:
            data = os.read(fd, _RECEIVE_SIZE)
        except BlockingIOError:
            return None
        except OSError as exc:
            raise Broken from exc
        if self._may_skip:  # the call before had a schedule point: skip this one
            self._may_skip = False
            return data, False
        self._may_skip = self.alternate_schedule_points
        return data, True

    def notify_closing(self) -> None:
        """The socket is about to be closed (or was): a read parked on the poller raises
        `Broken`."""
        if self._parked is not None:
            notify_closing(self._parked)

    @overload
    async def receive(
        self, parked: None = None, *, wait_first: bool = False
    ) -> bytes | bytearray: ...
    @overload
    async def receive(
        self, parked: Callable[[], bool], *, wait_first: bool = False
    ) -> bytes | bytearray | None: ...
    async def receive(
        self, parked: Callable[[], bool] | None = None, *, wait_first: bool = False
    ) -> bytes | bytearray | None:
        # A read that waited was a schedule point already (as in trio's own sockets): only a
        # read that found data at once takes a checkpoint of its own, and with
        # ``alternate_schedule_points`` only if the call before took none. The wait is outside
        # the ``except`` block so that an idle connection does not hold the BlockingIOError.
        # ``wait_first``: the caller checked cancellation and a `read_now` found nothing just
        # before (no await in between): wait at once, without a second failed read.
        sock = self.socket
        if not wait_first:
            await trio.lowlevel.checkpoint_if_cancelled()
        waited = False
        while True:
            fd = sock.fileno()
            if fd < 0:
                raise Broken("the socket was closed")
            if wait_first:
                wait_first = False
            else:
                try:
                    data = os.read(fd, _RECEIVE_SIZE)
                except BlockingIOError:
                    data = None
                except OSError as exc:
                    raise Broken from exc
                if data is not None:
                    break
            if parked is not None:  # a long wait: the poller reads for it
                self._parked = reader = ParkedReader(fd, parked)
                try:
                    waited = await park_reader(reader)
                except trio.ClosedResourceError as exc:
                    raise Broken from exc
                finally:
                    self._parked = None
                if waited:
                    self._may_skip = self.alternate_schedule_points
                    return None
                parked = None  # (it could not park: it waits with trio as usual)
            try:
                await trio.lowlevel.wait_readable(sock)
            except trio.ClosedResourceError as exc:
                raise Broken from exc
            waited = True
        if waited:  # the wait was the schedule point (as in trio's own sockets)
            self._may_skip = self.alternate_schedule_points
        elif self._may_skip:  # the call before had one: skip this one
            self._may_skip = False
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()
            self._may_skip = self.alternate_schedule_points
        return data

    def write(self, data: bytes) -> Coroutine[Any, Any, None]:
        """Write all of ``data``; ``trio.Cancelled`` only if not one byte went out.

        What the socket takes now is written by this plain call; what it returns to await is
        the schedule point when all went out (so a caller's ``await transport.write(...)``
        is one coroutine layer, not two), or the wait for the rest.

        Raises:
          Broken: the connection failed or was closed (from the call or the await).
          PartialWrite: cancelled after part of ``data`` went out.
        """
        total = self.write_nowait(data)
        if total == len(data):
            self._may_skip = self.alternate_schedule_points  # (the checkpoint cannot fail)
            return trio.lowlevel.cancel_shielded_checkpoint()  # noqa: ASYNC105 (awaited by the caller)
        return self._write_rest(data, total)

    def wrote(self) -> Coroutine[Any, Any, None]:
        """The schedule point after a whole write made with `write_nowait` (what `write`
        returns then), for a caller that wrote the bytes itself."""
        self._may_skip = self.alternate_schedule_points
        return trio.lowlevel.cancel_shielded_checkpoint()  # noqa: ASYNC105 (awaited by the caller)

    async def _write_rest(self, data: bytes, total: int) -> None:
        """`write`'s wait for the socket to take the rest of ``data`` (``total`` bytes of it
        went out already)."""
        size = len(data)
        while True:
            try:
                await trio.lowlevel.wait_writable(self.socket)
            except trio.ClosedResourceError as exc:
                raise Broken from exc
            except trio.Cancelled as exc:
                if total:
                    raise PartialWrite(total) from exc
                raise
            total += self.write_nowait(memoryview(data)[total:])
            if total == size:  # it waited: that was the schedule point
                self._may_skip = self.alternate_schedule_points
                return


def _has_room(transport: StreamTransport, sock: trio.socket.SocketType) -> bool:
    """Whether ``sock``'s send buffer has room now (a ``poll`` with no wait).

    Raises:
      Broken: the socket was closed.
    """
    fd = sock.fileno()
    if fd < 0:
        raise Broken("the socket was closed")
    poll = transport.poll
    if poll is None:
        poll = transport.poll = select.poll()
        poll.register(fd, select.POLLOUT)
    return bool(poll.poll(0))


def transport_for(stream: trio.abc.Stream) -> StreamTransport:
    """The fastest transport for ``stream``."""
    if isinstance(stream, trio.SocketStream):
        return SocketTransport(stream)
    return StreamTransport(stream)

"""``ClientConnection``: one client websocket's ASGI-shaped ``receive``/``send`` over websockets'
sans-I/O ``ClientProtocol``, driven in the caller's task.

The client stands on the same pieces as the server side: a `trio_ws.WebSocket` (its message
methods and structured mode's close rules) talks to this object as it talks to an ASGI server,
and this object drives the protocol the way the engine drives ``ServerProtocol``: no reader
task, no channel. ``receive`` returns a parsed message when one is waiting and otherwise reads
the socket itself; ``send`` frames the message and writes it inline behind a `SendTurn` that
costs nothing when free.

The promises this object keeps (``trio_ws.connect`` documents them to users):

* ``receive`` is atomic under cancellation: a message is either still queued or returned;
* a ``send`` cancelled before its frame was written leaves the connection unchanged when the
  frame can be forgotten (no compression: the protocol keeps no trace of it); a compressed
  frame, or one cancelled after part of it was written, aborts the connection. Half a frame
  never reaches the server;
* control frames the protocol answers by itself (pongs, the echo of a close) never make a
  reader wait for a stuck send: while another task holds the send turn they are deferred,
  and the holder writes them as soon as its own frame is out.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Final

import trio
from websockets.frames import Opcode
from websockets.protocol import State

from .._engine._transport import Broken, PartialWrite, transport_for
from .._exceptions import LocalProtocolError
from .._send_turn import SendTurn
from ._assembler import MessageAssembler

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from websockets.client import ClientProtocol
    from websockets.frames import Frame

    from .._types import Message

__all__ = ["ClientConnection", "ServerGone"]

_TEXT: Final = Opcode.TEXT
_BINARY: Final = Opcode.BINARY
_CONT: Final = Opcode.CONT
_PONG: Final = Opcode.PONG
_OPEN: Final = State.OPEN
_CLOSED: Final = State.CLOSED
#: How long the close frame of a keepalive failure may take before the socket is aborted.
_FAIL_TIMEOUT: Final = 1.0
KEEPALIVE_REASON: Final = "keepalive ping timeout"


class ServerGone(OSError):
    """``send`` after the server closed or the connection failed (an ``OSError``, as ASGI 2.4
    says a server's ``send`` reports a peer that left)."""


class ClientConnection:
    """The I/O of one open client websocket.

    Args:
      stream: the connection (plain TCP or TLS), after a successful upgrade.
      protocol: the ``ClientProtocol`` that made the upgrade (``OPEN``; it may hold bytes read
        after the response).
      early_frames: frames parsed together with the upgrade response.
      close_timeout: how long the closing handshake and deferred control frames may take.
    """

    __slots__ = (
        "_assembler",
        "_broken",
        "_deferred",
        "_disconnect",
        "_pending",
        "_pings",
        "_reading",
        "_transport",
        "_turn",
        "close_timeout",
        "failed_locally",
        "keepalive_failed",
        "latency",
        "protocol",
        "stream",
    )

    def __init__(
        self,
        stream: trio.abc.Stream,
        protocol: ClientProtocol,
        early_frames: Sequence[object] = (),
        *,
        close_timeout: float,
    ) -> None:
        self.stream = stream
        self.protocol = protocol
        self.close_timeout = close_timeout
        self._transport = transport_for(stream)
        self._turn = SendTurn()
        # websocket.connect comes first, before any frame that arrived with the 101.
        self._pending: deque[Message] = deque([{"type": "websocket.connect"}])
        self._assembler = MessageAssembler()
        self._disconnect: Message | None = None
        self._reading = False
        self._broken = False  # the socket failed or was aborted: no more reads or writes
        # This side failed the connection (a protocol error from the server): the TCP
        # connection is closed without waiting for the server to close it first.
        self.failed_locally = False
        self._deferred: list[bytes] = []  # control frames waiting for the send turn's holder
        self._pings: dict[bytes, tuple[float, trio.Event]] = {}  # unanswered, oldest first
        #: Whether the connection ended because a pong was late (closed 1011 by the client).
        self.keepalive_failed = False
        #: The round trip of the latest answered keepalive ping, in seconds.
        self.latency: float | None = None
        self._take_events(early_frames)

    @property
    def ended(self) -> bool:
        """Whether the end of the connection is known (the disconnect is ready to deliver)."""
        return self._disconnect is not None

    # ------------------------------------------------------------------ receive

    async def receive(self) -> Message:
        """ASGI ``receive``: ``websocket.connect`` first, then the server's messages, then
        ``websocket.disconnect`` (again on every later call).

        Raises:
          trio.BusyResourceError: another task is reading (structured mode never does that).

        Cancellation: atomic; no message is lost.
        """
        pending = self._pending
        while True:
            if pending:
                return pending.popleft()
            if self._disconnect is not None:
                return dict(self._disconnect)
            await self._read_once()

    async def _read_once(self) -> None:
        if self._reading:
            raise trio.BusyResourceError("another task is reading this websocket")
        self._reading = True
        try:
            try:
                data = await self._transport.receive()
            except Broken:
                self._broken = True
                self._set_disconnect(1006, "")
                return
            await self._feed(data)
        finally:
            self._reading = False

    async def _feed(self, data: bytes | bytearray) -> None:
        protocol = self.protocol
        closing = protocol.close_sent is not None  # before: feeding may fail the connection
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        self._take_events(protocol.events_received())
        await self._answer(closing, eof=not data)

    async def start(self) -> None:
        """Answer what arrived together with the 101 (a ping, or frames the protocol failed
        on): called once, before the application runs.

        Cancellation: the answer is shielded and bounded by ``close_timeout``.
        """
        await self._answer(closing=False, eof=False)

    async def _answer(self, closing: bool, *, eof: bool) -> None:
        """Write what the protocol answered by itself and notice the end it reached."""
        protocol = self.protocol
        if not closing and protocol.close_sent is not None and protocol.close_rcvd is None:
            self.failed_locally = True  # websockets (or the UTF-8 check) failed the connection
        out = protocol.data_to_send()
        if out:
            await self._write_control(out)
        if protocol.close_rcvd is not None or protocol.close_sent is not None or eof:
            self._end_from_protocol()

    def _take_events(self, events: Sequence[object]) -> None:
        assembler = self._assembler
        for event in events:
            frame: Frame = event  # type: ignore[assignment]  # only frames once open
            opcode = frame.opcode
            if opcode is _TEXT or opcode is _BINARY or opcode is _CONT:
                try:
                    message = assembler.frame(frame)
                except UnicodeDecodeError as exc:
                    self.protocol.fail(1007, f"invalid UTF-8 at position {exc.start}")
                    return
                if message is not None:
                    self._pending.append(message)
            elif opcode is _PONG:
                self._pong(bytes(frame.data))

    def _end_from_protocol(self) -> None:
        self._assembler.reset()  # an unfinished message ends with the connection
        protocol = self.protocol
        if protocol.close_rcvd is not None and protocol.close_rcvd_then_sent is not False:
            self._set_disconnect(protocol.close_rcvd.code, protocol.close_rcvd.reason)
        elif protocol.close_sent is not None:
            self._set_disconnect(protocol.close_sent.code, protocol.close_sent.reason)
        elif protocol.state is _CLOSED or protocol.reader.eof:
            self._set_disconnect(1006, "")

    def _set_disconnect(self, code: int, reason: str) -> None:
        if self._disconnect is None:
            # int(): websockets may hand over a CloseCode (an IntEnum); ASGI wants a plain int.
            self._disconnect = {"type": "websocket.disconnect", "code": int(code), "reason": reason}

    # ------------------------------------------------------------------ send

    async def send(self, message: Message) -> None:
        """ASGI ``send``: a data message or a close, written inline.

        ``websocket.accept`` does nothing: `trio_ws.connect` made the handshake already.

        Raises:
          ServerGone: (an ``OSError``) the server closed or the connection failed.
          LocalProtocolError: a message a client cannot send.

        Cancellation: a frame the protocol can forget (uncompressed data) cancelled before its
        first byte is not sent and the connection goes on; otherwise a cancelled write aborts
        the connection (never half a frame) and ``Cancelled`` propagates.
        """
        kind = message["type"]
        if kind == "websocket.send":
            turn = self._turn
            await turn.take()
            try:
                protocol = self.protocol
                if protocol.state is not _OPEN:
                    raise ServerGone("the websocket is closed")
                text = message.get("text")
                if text is not None:
                    protocol.send_text(text.encode())
                else:
                    protocol.send_binary(message["bytes"])
                await self._write(protocol.data_to_send(), forgettable=not protocol.extensions)
            finally:
                await self._release(turn)
        elif kind == "websocket.close":
            await self._send_close(message.get("code", 1000), message.get("reason") or "")
        elif kind != "websocket.accept":
            raise LocalProtocolError(f"a websocket client cannot send {kind!r}")

    async def _send_close(self, code: int, reason: str) -> None:
        turn = self._turn
        await turn.take()
        try:
            if self.protocol.state is _OPEN:
                self.protocol.send_close(code, reason)
                await self._write(self.protocol.data_to_send())
        except ServerGone:
            pass
        finally:
            await self._release(turn)

    async def _release(self, turn: SendTurn) -> None:
        """Write the control frames deferred while the turn was held, then release it."""
        try:
            if self._deferred and not self._broken:
                deferred, self._deferred = self._deferred, []
                with trio.CancelScope(shield=True) as scope:
                    scope.relative_deadline = self.close_timeout
                    try:
                        await self._write(deferred)
                    except ServerGone:
                        pass
                if scope.cancelled_caught:
                    self.abort()
        finally:
            turn.release()

    async def _write_control(self, chunks: list[bytes]) -> None:
        """Write what the protocol answered by itself, without waiting for a send in flight."""
        turn = self._turn
        if turn.held:
            self._deferred.extend(chunks)  # the holder writes them when its frame is out
            return
        await turn.take()  # free: taken at once, no checkpoint
        try:
            with trio.CancelScope(shield=True) as scope:
                scope.relative_deadline = self.close_timeout
                await self._write(chunks)
            if scope.cancelled_caught:
                self.abort()  # the server reads nothing: the connection is dead
        except ServerGone:
            pass
        finally:
            await self._release(turn)

    async def _write(self, chunks: list[bytes], *, forgettable: bool = False) -> None:
        """Write the protocol's output; the caller holds the send turn.

        Raises:
          ServerGone: the connection is broken or closed.
          trio.Cancelled: nothing was written; unless the frame is ``forgettable`` the
            connection was aborted, since the protocol's state already counts the frame.
        """
        if self._broken:
            raise ServerGone("the connection was aborted")
        transport = self._transport
        try:
            for chunk in chunks:
                if chunk:
                    await transport.write(chunk)
                else:  # websockets' SEND_EOF
                    await transport.send_eof()
        except Broken as exc:
            self._broken = True
            self._set_disconnect(1006, "")
            raise ServerGone("the connection to the server failed") from exc
        except PartialWrite as exc:
            self.abort()  # part of a frame is on the wire: the connection cannot go on
            raise exc.__cause__ from None  # type: ignore[misc]
        except trio.Cancelled:
            if not forgettable:
                self.abort()
            raise

    # ------------------------------------------------------------------ keepalive

    async def keepalive(
        self, interval: float, pong_timeout: float | None, backlogged: Callable[[], bool]
    ) -> None:
        """Ping every ``interval`` seconds; close with 1011 when a pong is ``pong_timeout`` late.

        ``backlogged()`` tells whether the application holds a full inbound buffer: the reader
        then stops reading, pongs cannot be seen, and a late pong is not held against the
        server (it has just sent those messages).

        Cancellation: the loop simply stops.
        """
        count = 0
        while self._disconnect is None:
            await trio.sleep(interval)
            count += 1
            payload = count.to_bytes(4, "big")
            with trio.move_on_after(math.inf if pong_timeout is None else pong_timeout) as scope:
                pong = await self._ping(payload)
                if pong is None:
                    return  # closed meanwhile
                await pong.wait()
            if scope.cancelled_caught and self._disconnect is None and not backlogged():
                await self._fail_keepalive()
                return

    async def _ping(self, payload: bytes) -> trio.Event | None:
        turn = self._turn
        await turn.take()
        try:
            if self.protocol.state is not _OPEN or self._broken:
                return None
            pong = trio.Event()
            self._pings[payload] = (trio.current_time(), pong)
            self.protocol.send_ping(payload)
            await self._write(self.protocol.data_to_send(), forgettable=True)
        except ServerGone:
            return None
        finally:
            await self._release(turn)
        return pong

    def _pong(self, payload: bytes) -> None:
        if payload not in self._pings:
            return  # unsolicited: allowed, and ignored
        # A pong answers its ping and every earlier one (RFC 6455 5.5.3).
        while self._pings:
            key, (sent_at, event) = next(iter(self._pings.items()))
            del self._pings[key]
            event.set()
            if key == payload:
                self.latency = trio.current_time() - sent_at
                return

    async def _fail_keepalive(self) -> None:
        self.keepalive_failed = True
        self._set_disconnect(1011, KEEPALIVE_REASON)
        with trio.move_on_after(_FAIL_TIMEOUT):
            turn = self._turn
            await turn.take()
            try:
                if self.protocol.state is _OPEN:
                    self.protocol.fail(1011, KEEPALIVE_REASON)
                    await self._write(self.protocol.data_to_send())
            except ServerGone:
                pass
            finally:
                turn.release()
        self.abort()

    # ------------------------------------------------------------------ the end

    def abort(self) -> None:
        """Close the socket now, waking any task blocked on it; the end reads as 1006 unless
        one was known already."""
        self._broken = True
        self._set_disconnect(1006, "")
        stream = getattr(self.stream, "transport_stream", self.stream)
        socket = getattr(stream, "socket", None)
        if socket is not None:
            socket.close()

    async def finish(self) -> None:
        """After the application's block: wait (bounded by ``close_timeout``) for the closing
        handshake and the server closing TCP, then close the stream. After this side failed
        the connection (a protocol error of the server's), it closes TCP at once, as RFC 6455
        7.1.7 asks of the endpoint that fails the connection.

        Cancellation: shielded; returns within ``close_timeout``.
        """
        protocol = self.protocol
        with trio.CancelScope(shield=True) as scope:
            scope.relative_deadline = self.close_timeout
            while not (
                self._broken
                or self.failed_locally
                or self._reading
                or protocol.state is _CLOSED
                or protocol.reader.eof
                or (protocol.close_sent is None and protocol.close_rcvd is None)
            ):
                await self._read_once()
        self._broken = True
        await trio.aclose_forcefully(self.stream)

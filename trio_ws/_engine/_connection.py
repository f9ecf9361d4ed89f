"""``EngineConnection``: one websocket's ASGI ``receive``/``send``, driven in the app's task.

What the application may send when, and what the client gets for it, is decided by the one
server-side machine of the ASGI exchange, `trio_ws._server_exchange.ServerExchange` (the
in-memory emulator of ``trio_ws.testing`` drives the same one); this module performs its
events on the socket.

There is no reader task and no channel: ``receive`` returns a parsed message when one is
waiting and otherwise reads the socket itself; ``send`` frames the message with ``websockets``'
sans-I/O ``ServerProtocol`` and writes it inline, behind a `SendTurn`
that costs nothing when it is free. Control frames the protocol answers by itself (pongs, the
echo of a close) are written by whoever read them. While the application is not reading, the
keepalive task reads on its behalf until its pong is in (`._keepalive`). While it waits at
rest (after a pong, until data comes), its wait is parked on the read poller (`._poller`),
which reads and parses what arrives without waking it unless there is something for it.

What the application sees:

* ``websocket.disconnect`` carries the client's close code and reason (ASGI 2.5), 1005 for a
  close frame without a code, 1006 for a TCP drop without one, and the code the server closed
  with when it failed the connection (1002 protocol error, 1007 invalid UTF-8, 1009 too big,
  1011 keepalive timeout, 1006 aborted) or shut down (1001/1012); when the server ended it
  itself (not for shutdown), the message also has ``"trio_ws.closed_by": "server"``;
* ``send`` after the client left raises `ClientGone` (an ``OSError``, ASGI 2.4);
* a ``send`` cancelled before its frame was written leaves the connection unchanged, with
  permessage-deflate too (the frame is compressed only once the socket takes bytes); one
  cancelled while the frame is partly written aborts the connection (never half a frame);
* frames the server writes on its own (pongs, the echo of a close, pings) wait in a
  pending-output buffer when the socket is full or another task is writing: a ``receive``
  never waits for another task's ``send``, and what is pending goes out before the next frame.
"""

from __future__ import annotations

import codecs
import contextlib
import http
import os
import select
from collections import deque
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio
from websockets.datastructures import Headers
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from .._send_turn import SendTurn
from .._server_exchange import (
    Accepted,
    AppClosed,
    ClientGone,
    InvalidAccept,
    Rejected,
    ServerExchange,
    ServerState,
)
from ._transport import Broken, PartialWrite, SocketTransport, transport_for

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from websockets.frames import Frame
    from websockets.http11 import Request
    from websockets.server import ServerProtocol

    from .._types import Message as ASGIMessage

__all__ = ["ClientGone", "EngineConnection", "EngineSettings"]

#: On a compressed connection, one network read is fed to the protocol in slices this big, and
#: feeding stops as soon as a message is parsed: a read full of small frames that each inflate
#: to nearly the message limit then holds one or two inflated messages, not dozens.
_FEED_SLICE: Final = 1024
#: Messages the keepalive reader may queue for an application that is not reading; once that
#: many wait, the peer has shown it is alive and the keepalive stops reading.
_KEEPALIVE_READ_AHEAD: Final = 4
#: What each frame of a fragmented message counts against ``max_message_size`` on top of its
#: payload, so that a message of endless empty frames is bounded too (closed 1009).
FRAME_COST: Final = 64
_TEXT: Final = Opcode.TEXT
_BINARY: Final = Opcode.BINARY
_CONT: Final = Opcode.CONT
_PONG: Final = Opcode.PONG
_OPEN: Final = State.OPEN
_CLOSED: Final = State.CLOSED
_POLLOUT: Final = select.POLLOUT
_POLL_TROUBLE: Final = select.POLLERR | select.POLLHUP | select.POLLNVAL
_poller = select.poll()  # one for the whole process: a socket is registered only while asked


def _writable_now(fd: int) -> bool:
    """Whether the socket ``fd`` takes at least some bytes now, without waiting (``False`` also
    when it failed or was closed: the ordinary send then finds out which)."""
    _poller.register(fd, _POLLOUT)
    try:
        ready = _poller.poll(0)
    finally:
        _poller.unregister(fd)
    return bool(ready) and ready[0][1] & _POLL_TROUBLE == 0


class _SharedEmpty(deque[Any]):
    """The empty queue every connection without queued items shares. Adding to it is a bug of
    ours (whoever adds makes the connection a queue of its own first), so it raises instead of
    dropping the item as a ``maxlen=0`` deque would."""

    def _refuse(self, *_: object) -> None:
        raise RuntimeError("trio_ws internal error: added to a connection's shared empty queue")

    append = appendleft = extend = extendleft = insert = _refuse


#: The empty pending-message and pending-output queues of a connection that has none (``receive``
#: gives back the message queue it emptied; an idle connection sheds the rest,
#: `EngineConnection.shed_buffers`): a deque costs 760 bytes even empty, so one shared
#: instance stands for "none" until something is queued.
_NO_MESSAGES: Final[deque[Any]] = _SharedEmpty()
_NO_OUTPUT: Final[deque[bytes]] = _SharedEmpty()


@attrs.frozen
class EngineSettings:
    """The engine's per-connection settings (from `trio_ws.ServerSettings`)."""

    #: Largest message accepted after decompression, in bytes; larger ones are closed 1009.
    max_message_size: int
    #: ``"deflate"`` to negotiate permessage-deflate when the client offers it, or ``None``.
    compression: str | None = "deflate"
    #: Seconds between server pings (``None``: no pings).
    ping_interval: float | None = 20.0
    #: Seconds a pong may take before the connection is closed with 1011 (``None``: forever).
    ping_timeout: float | None = 20.0
    #: Seconds a reading connection may receive nothing before it is dropped (``None``: never).
    read_timeout: float | None = 60.0
    #: Seconds the closing handshake may take after the application returned.
    close_timeout: float = 5.0


class EngineConnection:
    """The ASGI side of one websocket connection served by the engine.

    Args:
      stream: the connection (plain or TLS).
      request: the upgrade request, already parsed by ``protocol``.
      protocol: the ``ServerProtocol`` that parsed it (fed the request head only).
      settings: the engine settings.
      log: hypercorn's async logger (``config.log``).
      early: what the client sent after the request head without waiting for the 101
        (`Upgrade.early`): parsed once the application accepted, before anything read
        after it, so its frames reach the application first and in order; dropped if the
        handshake is refused (the client gets the refusal's HTTP status).
    """

    __slots__ = (
        "_broken",
        "_chunks",
        "_connect_delivered",
        "_decoder",
        "_early",
        "_keepalive_scope",
        "_log",
        "_message_cost",
        "_out",
        "_out_at",
        "_park_cold",
        "_pending",
        "_read_done",
        "_reading",
        "_response",
        "_transport",
        "_turn",
        "_unfed",
        "_unfed_at",
        "exchange",
        "idle_since",
        "keepalive",
        "keepalive_cell",
        "messages_received",
        "messages_sent",
        "next_ping_at",
        "on_accept",
        "on_refuse",
        "on_round_trip",
        "ping_payload",
        "ping_sent_at",
        "protocol",
        "reads",
        "reads_seen",
        "request",
        "settings",
        "shutdown_close_code",
        "shutdown_code",
        "status",
        "stream",
        "unanswered_since",
    )

    def __init__(
        self,
        stream: trio.abc.Stream,
        request: Request,
        protocol: ServerProtocol,
        settings: EngineSettings,
        log: Any,
        shutdown_close_code: int = 1001,
        early: bytes = b"",
    ) -> None:
        self.stream = stream
        self._transport = transport_for(stream)
        if isinstance(self._transport, SocketTransport):
            # A round trip (a read, then a write) is one schedule point, not two.
            self._transport.alternate_schedule_points = True
        self.shutdown_close_code = shutdown_close_code
        #: Called once when the application accepted (the server registers the connection).
        self.on_accept: Callable[[EngineConnection], object] | None = None
        self.request: Request | None = request  # dropped once the handshake is answered
        self.protocol = protocol
        self.settings = settings
        self._log = log
        self._turn = SendTurn()
        #: Bytes the server produced on its own (pongs, close frames, pings) and has not
        #: written yet; ``_out_at`` bytes of the first chunk are already on the wire. An empty
        #: chunk is websockets' "end the TCP connection" marker.
        self._out: deque[bytes] = _NO_OUTPUT
        self._out_at = 0
        self._pending: deque[ASGIMessage] = _NO_MESSAGES
        self._connect_delivered = False
        #: The server side of the ASGI exchange (made again once the offer is known).
        self.exchange = ServerExchange((), denial_supported=True)
        self._response: Response | None = None
        # A fragmented message being assembled.
        self._chunks: list[Any] | None = None
        self._decoder: codecs.IncrementalDecoder | None = None
        #: Payload bytes plus `FRAME_COST` per frame of the message being assembled.
        self._message_cost = 0
        # Who reads: at most one task at a time; the keepalive reader yields to the app.
        self._reading = False
        self._broken = False  # the socket failed or was aborted: no more reads
        #: Whether the application's next wait for data parks on the read poller (`._poller`),
        #: which reads pongs without waking it: set by a pong, cleared when data wakes it.
        self._park_cold = False
        #: Bytes the client sent before the 101: they become ``_unfed`` once accepted.
        self._early = early
        # Bytes read but not yet fed to the protocol (a large read on a compressed connection,
        # or the early bytes).
        self._unfed = b""
        self._unfed_at = 0
        self._read_done: trio.lowlevel.ParkingLot | None = None  # made when contended
        self._keepalive_scope: trio.CancelScope | None = None
        #: Shutdown code once the server closed this websocket for shutdown.
        self.shutdown_code: int | None = None
        # Keepalive bookkeeping (read and written by the keepalive timer).
        #: Number of reads that returned; the timer compares it across ticks.
        self.reads = 0
        self.reads_seen = 0
        self.idle_since = 0.0
        #: The keepalive timer's cell this connection waits in (``None``: not watched).
        self.keepalive_cell: int | None = None
        self.next_ping_at = 0.0
        #: The latest ping's payload and time, and when the oldest unanswered ping was sent.
        self.ping_payload: bytes | None = None
        self.ping_sent_at = 0.0
        self.unanswered_since: float | None = None
        #: ``scope["extensions"]["trio_ws.keepalive"]``: the last measured round trip.
        self.keepalive: dict[str, float | None] = {"latency": None}
        # Observation (trio_ws._observe): counters read by observers, a hook per pong.
        #: Whole messages delivered to / sent by the application.
        self.messages_received = 0
        self.messages_sent = 0
        #: The handshake's answer: 101 once accepted, else the refusal's HTTP status.
        self.status: int | None = None
        #: Called with each keepalive round trip measured (``None``: nobody observes).
        self.on_round_trip: Callable[[float], object] | None = None
        #: Called once when the application's answer to the handshake is a refusal.
        self.on_refuse: Callable[[EngineConnection], object] | None = None

    # ------------------------------------------------------------------ handshake

    def check_handshake(self, offered: list[str]) -> Response | None:
        """Validate the upgrade request and prepare the 101; return a refusal, or ``None``.

        websockets checks the key (present once, base64 of 16 bytes), the version, the
        ``Connection``/``Upgrade`` headers and negotiates permessage-deflate.
        """
        self.exchange = ServerExchange(tuple(offered), denial_supported=True)
        assert self.request is not None
        response = self.protocol.accept(self.request)
        self.request = None
        if response.status_code != 101:
            return response
        self._response = response
        return None

    async def refuse(self, response: Response) -> None:
        """Send a refusal prepared by `check_handshake` and end the connection.

        Raises:
          Nothing on network errors (the client is gone then).
        """
        self.status = response.status_code
        self.exchange.record_end(1006, "")
        response.headers["Connection"] = "close"
        with trio.move_on_after(self.settings.close_timeout):
            await self._write_response(response)

    @property
    def open(self) -> bool:
        """Whether the websocket was accepted and the application has not seen its end."""
        return self.exchange.open

    @property
    def reading(self) -> bool:
        """Whether a task is waiting for data from the client right now."""
        return self._reading

    @property
    def accepted(self) -> bool:
        """Whether the application accepted (the 101 went out)."""
        return self.exchange.accepted

    # ------------------------------------------------------------------ receive

    async def receive(self) -> ASGIMessage:
        """ASGI ``receive``: the next message, reading the socket only when none is waiting.

        After the end it returns the same ``websocket.disconnect`` again.

        Cancellation: cancel-safe; no message is lost.
        """
        while True:
            pending = self._pending  # (a new one once a read queued the first message)
            if pending:
                self.messages_received += 1
                message = pending.popleft()
                if not pending:  # an idle connection keeps no queue (760 bytes) of its own
                    self._pending = _NO_MESSAGES
                return message
            if not self._connect_delivered:
                self._connect_delivered = True
                return {"type": "websocket.connect"}
            if self.exchange.end is not None:
                return self.exchange.disconnect_message()
            transport = self._transport
            if self._reading or self._unfed or type(transport) is not SocketTransport:
                await self._read_once()
                continue
            # The per-message read, written out here (each coroutine layer is made and resumed
            # per message): the cancellation check, a plain read, the parse, and the schedule
            # point the transport asks for. Nothing awaits between the check and the parse,
            # so no other reader can come in between (``_reading`` is not needed).
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                read = transport.read_now()
            except Broken:
                self._broken = True
                self.exchange.record_end(1006, "")
                continue
            if read is None:  # nothing there: wait (without a second failed read)
                await self._read_once(wait_first=True)
                continue
            data, yields = read
            self.reads += 1
            if len(data) > _FEED_SLICE and self.protocol.extensions:
                self._unfed = data  # fed in slices by the next _read_once
                self._unfed_at = 0
            elif self._parse(data):
                await self._settle(data)  # (a plain socket: it does not wait)
            if yields:
                await trio.lowlevel.cancel_shielded_checkpoint()

    async def _read_once(self, *, wait_first: bool = False) -> None:
        if self._reading:
            # Another task reads: the keepalive reader gives way at once; a second
            # application task waits for the read in progress.
            if self._keepalive_scope is not None:
                self._keepalive_scope.cancel()
            if self._read_done is None:
                self._read_done = trio.lowlevel.ParkingLot()
            await self._read_done.park()
            return
        self._reading = True
        try:
            if self._unfed:
                await self._feed_in_slices()
                return
            try:
                data = await self._transport.receive(
                    self._read_parked
                    if self._park_cold and self._keepalive_scope is None
                    else None,
                    wait_first=wait_first,
                )
            except Broken:
                self._broken = True
                self.exchange.record_end(1006, "")
                return
            if data is None:  # it waited on the poller, which read and parsed what came
                self._park_cold = False
                return
            self.reads += 1
            if len(data) > _FEED_SLICE and self.protocol.extensions:
                self._unfed = bytes(data)
                self._unfed_at = 0
                await self._feed_in_slices()
            elif self._parse(data):
                await self._settle(data)
        finally:
            self._reading = False
            if self._read_done:
                self._read_done.unpark_all()

    def _read_parked(self) -> bool:
        """Read for a task parked on the read poller: the poller calls it, in its own task,
        each time the socket is readable. Returns whether the parked task must wake.

        What arrived is parsed here: a pong (or a client's ping, answered here when no send
        is in progress) leaves the task parked; a message, the end of the connection, or a
        read that must be fed in slices wakes it.
        """
        transport = self._transport
        assert isinstance(transport, SocketTransport)
        try:
            data = transport.read_nowait()
        except Broken:
            self._broken = True
            self.exchange.record_end(1006, "")
            return True
        if data is None:
            return False
        self.reads += 1
        if len(data) > _FEED_SLICE and self.protocol.extensions:
            self._unfed = data  # the woken task feeds it
            self._unfed_at = 0
            return True
        if self._parse(data):
            if self._out and self._turn.try_take():
                try:
                    self._write_pending_nowait()
                finally:
                    self._turn.release()
            protocol = self.protocol
            if protocol.close_rcvd is not None or protocol.close_sent is not None or not data:
                self._end_from_protocol()
        return bool(self._pending) or self.exchange.end is not None

    async def _feed_in_slices(self) -> None:
        unfed = self._unfed
        end = len(unfed)
        while self._unfed_at < end:
            at = self._unfed_at
            self._unfed_at = at + _FEED_SLICE
            await self._feed(unfed[at : at + _FEED_SLICE])
            if self._pending or self.exchange.end is not None:
                break
        if self._unfed_at >= end or self.exchange.end is not None:
            self._unfed = b""
            self._unfed_at = 0

    async def _feed(self, data: bytes | bytearray) -> None:
        if self._parse(data):
            await self._settle(data)

    def _parse(self, data: bytes | bytearray) -> bool:
        """Feed ``data`` (``b""``: EOF) to the protocol and queue the messages it completes.

        Returns whether `_settle` must run: the protocol produced output of its own, or the
        connection is closing or closed. (The per-message path stays one call when not.)
        """
        protocol = self.protocol
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        for event in protocol.events_received():
            frame: Frame = event  # type: ignore[assignment]  # only frames once open
            opcode = frame.opcode
            if opcode is _TEXT or opcode is _BINARY or opcode is _CONT:
                if self._pending is _NO_MESSAGES:
                    self._pending = deque()
                if not self._data_frame(frame):
                    break
            elif opcode is _PONG:
                self._pong(bytes(frame.data))
        out = protocol.data_to_send()
        if out:
            self._queue_output(out)  # (an idle connection's queue is shared and empty)
            return True
        return protocol.close_rcvd is not None or protocol.close_sent is not None or not data

    async def _settle(self, data: bytes | bytearray) -> None:
        """After `_parse`: write the pending output, record the end if the connection ended."""
        protocol = self.protocol
        if self._out and not self._turn.held:
            # Pongs, the echo of a close, or the close frame of a failure: pending output,
            # written now if nobody else is writing, else by the writer after its frame.
            async with self._turn:  # free: not a checkpoint
                await self._write_pending_soon()
        if protocol.close_rcvd is not None or protocol.close_sent is not None or not data:
            self._end_from_protocol()

    def _data_frame(self, frame: Frame) -> bool:
        data = frame.data
        chunks = self._chunks
        try:
            if chunks is None:
                if frame.fin:
                    if frame.opcode is _TEXT:
                        self._pending.append(
                            {"type": "websocket.receive", "text": bytes(data).decode()}
                        )
                    else:
                        self._pending.append({"type": "websocket.receive", "bytes": bytes(data)})
                    return True
                self._message_cost = len(data) + FRAME_COST
                if frame.opcode is _TEXT:
                    self._decoder = codecs.getincrementaldecoder("utf-8")()
                    self._chunks = [self._decoder.decode(data)]
                else:
                    self._decoder = None
                    self._chunks = [bytes(data)]
                return True
            self._message_cost += len(data) + FRAME_COST
            if self._message_cost > self.settings.max_message_size:
                self._chunks = None
                self.protocol.fail(1009, "message too big (counting its frames)")
                return False
            decoder = self._decoder
            if decoder is not None:
                text = decoder.decode(data, frame.fin)
                if text:
                    chunks.append(text)
            elif data:
                chunks.append(bytes(data))
        except UnicodeDecodeError as exc:
            self._chunks = None
            self.protocol.fail(1007, f"invalid UTF-8: {exc.reason} at position {exc.start}")
            return False
        if frame.fin:
            self._chunks = None
            if self._decoder is not None:
                self._pending.append({"type": "websocket.receive", "text": "".join(chunks)})
            else:
                self._pending.append({"type": "websocket.receive", "bytes": b"".join(chunks)})
        return True

    def _protocol_open(self) -> bool:
        return self.protocol.state is _OPEN

    def _pong(self, data: bytes) -> None:
        # Any pong shows the peer is alive; the latest ping's own pong measures the latency.
        # Until data comes, the application's reads wait on the poller, which reads pongs.
        self.unanswered_since = None
        self._park_cold = True
        if self.ping_payload is not None and bytes(data) == self.ping_payload:
            self.ping_payload = None
            latency = self.keepalive["latency"] = trio.current_time() - self.ping_sent_at
            if self.on_round_trip is not None:
                self.on_round_trip(latency)

    def _end_from_protocol(self) -> None:
        self._chunks = None  # an unfinished message ends with the connection
        protocol = self.protocol
        if self.shutdown_code is not None:
            self.exchange.record_end(self.shutdown_code, "server shutdown")
        elif protocol.close_rcvd is not None and protocol.close_rcvd_then_sent is not False:
            self.exchange.record_end(protocol.close_rcvd.code, protocol.close_rcvd.reason)
        elif protocol.close_sent is not None:
            # The application's own close, or the server's (1002, 1007, 1009) while it was open.
            by_server = self.exchange.state is ServerState.OPEN
            close = protocol.close_sent
            self.exchange.record_end(close.code, close.reason, by_server=by_server)
        elif protocol.state is _CLOSED or protocol.reader.eof:
            self.exchange.record_end(1006, "")

    # ------------------------------------------------------------------ send
    #
    # The ASGI state of the exchange (which message is allowed when, and what it does) is
    # decided by ``self.exchange``, the one server-side machine (`ServerExchange`): ``send``'s
    # fast path asks it for the payload (``data_to_send``), ``_send_other`` and ``_finish``
    # perform the events it returns. What stays here is the I/O around them (``_write``,
    # ``_respond``, the send turn).

    async def send(self, message: ASGIMessage) -> None:
        """ASGI ``send``, written inline.

        Raises:
          ClientGone: (an ``OSError``) the client left or the connection failed.
          InvalidAccept: (a ``LocalProtocolError``) an accept naming a subprotocol the client
            did not offer (the client got HTTP 400), or with headers that cannot be sent
            (HTTP 500).
          LocalProtocolError: a message that is unknown, malformed or not allowed in the
            current state (`ServerExchange` decides; nothing was sent).

        Cancellation: a message cancelled before its frame is written is not sent; if the frame
        was partly written, the connection is aborted (the client sees 1006, the application a
        disconnect) and ``Cancelled`` propagates.
        """
        if isinstance(message, dict) and message.get("type") == "websocket.send":
            payload = self.exchange.data_to_send(message)
            if payload is None:  # closed for shutdown: dropped, like a send after the client left
                await trio.lowlevel.checkpoint()
                return
            await trio.lowlevel.checkpoint_if_cancelled()
            turn = self._turn  # taken by hand here: no coroutine for __aenter__ per message
            if not turn.try_take():
                await turn.take()
            try:
                protocol = self.protocol
                if protocol.state is not _OPEN:
                    raise ClientGone("the client closed the websocket")
                if self._out:
                    await self._write_pending()  # cancelled: this message was not made
                if protocol.extensions or not self._transport.cancel_safe_write:
                    # Compressing changes the compressor's state, and a cancelled TLS write
                    # breaks the stream: both start only once bytes can go out.
                    await self._wait_writable()
                if isinstance(payload, str):
                    protocol.send_text(payload.encode())
                else:
                    protocol.send_binary(payload)
                await self._write(protocol.data_to_send(), data_frame=True)
                self.messages_sent += 1
                if self._out:
                    await self._write_pending_soon()
            finally:
                turn.release()
            return
        await self._send_other(message)

    def send_frame_nowait(self, frame: bytes) -> bool:
        """Write one whole, uncompressed data ``frame`` now if the socket takes it; never waits.

        For fan-out (``trio_ws.broadcast._fanout``): the frame is made once for many
        connections. On a connection with permessage-deflate, its payload is compressed here
        with this connection's own compressor, and only once the socket is known to take bytes
        now (compressing moves the compressor on, so from then on the frame is sent). Returns
        ``False``, having written (and compressed) nothing, when it cannot go out at once: not
        open, another send in progress, not a plain socket, or the socket's buffer is full (the
        caller then sends through ``send`` as usual). If only part fits, the send turn stays
        held and a system task writes the rest (whole or the connection is aborted), so the
        frame counts as sent.
        """
        transport = self._transport
        protocol = self.protocol
        if (
            not self.exchange.open
            or self._broken
            or protocol.state is not _OPEN
            or protocol.expect_continuation_frame
            or self._out  # pending output (a pong, a close reply) goes first
            or not isinstance(transport, SocketTransport)
            or not self._turn.try_take()
        ):
            return False
        fd = transport.socket.fileno()
        compressed = bool(protocol.extensions)
        if compressed:
            if not _writable_now(fd):
                self._turn.release()
                return False
            frame = self._through_extensions(frame)
        try:
            written = os.write(fd, frame)
        except OSError:  # full, closed or failed: the ordinary send finds out which
            written = 0
        if not written and not compressed:
            self._turn.release()
            return False
        self.messages_sent += 1  # observers count messages, however they went out
        if written == len(frame):
            self._turn.release()
        else:
            trio.lowlevel.spawn_system_task(self._write_rest, frame[written:])
        return True

    def _through_extensions(self, frame: bytes) -> bytes:
        """``frame``'s message (a whole, unmasked server data frame) framed again by the
        protocol, through this connection's extensions (its compressor)."""
        length = frame[1] & 0x7F
        data = frame[2 if length < 126 else 4 if length == 126 else 10 :]
        protocol = self.protocol
        if frame[0] & 0x0F == _TEXT:
            protocol.send_text(data)
        else:
            protocol.send_binary(data)
        return b"".join(protocol.data_to_send())

    async def _write_rest(self, rest: bytes) -> None:
        """Finish a frame `send_frame_nowait` began; the send turn is held and released here.

        Cancellation: (only at the server's exit) the connection is aborted, part of a frame
        being on the wire.
        """
        try:
            await self._write([rest])  # not a whole frame: cancelled, it aborts
        except ClientGone:
            pass
        except Exception:  # a system task must not raise: end this connection only
            self.abort()
        finally:
            self._turn.release()

    async def _send_other(self, message: ASGIMessage) -> None:
        try:
            event = self.exchange.app_sends(message)
        except InvalidAccept as exc:
            await self._log.warning(
                "trio_ws: the application's accept cannot be sent (%s); answered HTTP %d",
                exc,
                exc.response.status_code,
            )
            await self._respond(exc.response)
            raise
        if isinstance(event, Accepted):
            await self._accept(event)
        elif isinstance(event, AppClosed):
            await self._send_close(event.code, event.reason)
        elif isinstance(event, Rejected):
            await self._respond(event)
        else:  # the start or a partial body of a denial, a repeated or dropped close
            await trio.lowlevel.checkpoint()

    async def _accept(self, accepted: Accepted) -> None:
        response = self._response
        assert response is not None
        self._response = None
        if accepted.subprotocol is not None:
            response.headers["Sec-WebSocket-Protocol"] = accepted.subprotocol
            self.protocol.subprotocol = Subprotocol(accepted.subprotocol)
        for name, value in accepted.headers:
            response.headers[name.decode("latin-1")] = value.decode("latin-1")
        self.status = 101
        await self._write_response(response)
        if self._early:
            # The websocket is open and its extensions negotiated: the next read parses what
            # the client sent before the 101, ahead of anything still in the socket.
            self._unfed = self._early + self._unfed[self._unfed_at :]
            self._unfed_at = 0
            self._early = b""
        if self.on_accept is not None:
            self.on_accept(self)

    async def _send_close(self, code: int, reason: str) -> None:
        async with self._turn:
            if self.protocol.state is _OPEN:
                self.protocol.send_close(code, reason)
                self._queue_output(self.protocol.data_to_send())
            with contextlib.suppress(ClientGone):
                await self._write_pending()

    async def _respond(self, rejected: Rejected) -> None:
        status, body = rejected.status_code, rejected.body
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        response_headers = Headers()
        for name, value in rejected.headers:
            response_headers[name.decode("latin-1")] = value.decode("latin-1")
        if "Content-Length" not in response_headers:
            response_headers["Content-Length"] = str(len(body))
        response_headers["Connection"] = "close"
        self.status = status
        if self.on_refuse is not None:
            self.on_refuse(self)
        self.exchange.record_end(1000, "")
        try:
            await self._write_response(Response(status, phrase, response_headers, body))
        except ClientGone:
            pass

    async def _write_response(self, response: Response) -> None:
        async with self._turn:
            self.protocol.send_response(response)
            await self._write(self.protocol.data_to_send())

    async def _wait_writable(self) -> None:
        try:
            await self._transport.wait_writable()
        except Broken as exc:
            self._lost()
            raise ClientGone("the client left the websocket") from exc

    def _queue_output(self, chunks: list[bytes]) -> None:
        """Add to the pending output (see ``_out``)."""
        if self._out is _NO_OUTPUT:
            self._out = deque(chunks)
        else:
            self._out.extend(chunks)

    def _lost(self) -> None:
        self._broken = True
        self._out.clear()
        self.exchange.record_end(1006, "")

    async def _write_pending(self) -> None:
        """Write the pending output, waiting for the socket; the caller holds the send turn.

        Raises:
          ClientGone: the connection is broken or closed.

        Cancellation: what was not written stays pending and the next writer continues it
        (over TLS, where a cancelled write leaves the stream unusable, the connection is
        aborted).
        """
        out = self._out
        transport = self._transport
        try:
            while out:
                chunk = out[0]
                if chunk:
                    at = self._out_at
                    try:
                        await transport.write(chunk[at:] if at else chunk)
                    except PartialWrite as exc:
                        if exc.written is None:
                            self.abort()
                        else:
                            self._out_at = at + exc.written
                        raise exc.__cause__ from None  # type: ignore[misc]
                else:
                    await transport.send_eof()
                out.popleft()
                self._out_at = 0
        except Broken as exc:
            self._lost()
            raise ClientGone("the client left the websocket") from exc

    async def _write_pending_soon(self) -> None:
        """Write what of the pending output the socket takes now; the caller holds the turn.

        What the socket does not take stays pending for the next writer. Over TLS (no write
        without waiting) it is written whole, shielded, within ``close_timeout``; if that
        passes, the connection is aborted.

        Cancellation: never waits on a plain socket; shielded over TLS (see above).
        """
        transport = self._transport
        if not isinstance(transport, SocketTransport):
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + self.settings.close_timeout
                try:
                    await self._write_pending()
                except ClientGone:
                    pass
            if scope.cancelled_caught:
                self.abort()
            return
        self._write_pending_nowait()

    def _write_pending_nowait(self) -> None:
        """Write what of the pending output a plain socket takes now; the caller holds the turn.

        What the socket does not take stays pending for the next writer.
        """
        transport = self._transport
        assert isinstance(transport, SocketTransport)
        out = self._out
        try:
            while out:
                chunk = out[0]
                if chunk:
                    at = self._out_at
                    written = transport.write_nowait(memoryview(chunk)[at:])
                    if at + written < len(chunk):
                        self._out_at = at + written
                        return
                else:
                    transport.send_eof_nowait()
                out.popleft()
                self._out_at = 0
        except Broken:
            self._lost()

    def _write(self, chunks: list[bytes], *, data_frame: bool = False) -> Coroutine[Any, Any, None]:
        """Write the protocol's output; the caller holds the send turn.

        One frame on a plain socket that takes it whole (the per-message case) is written by
        this plain call, and what it returns to await is the transport's schedule point: a
        send is then one coroutine layer above Trio's, not three.

        Raises:
          ClientGone: the connection is broken or closed (from the call or the await).
          trio.Cancelled: nothing was written; unless ``data_frame`` without compression (the
            protocol is then as if the frame had never been made), the connection is aborted,
            since the protocol's state already counts the frame.
        """
        transport = self._transport
        if (
            len(chunks) == 1
            and chunks[0]
            and not self._broken
            and type(transport) is SocketTransport
        ):
            chunk = chunks[0]
            try:
                written = transport.write_nowait(chunk)
            except Broken as exc:
                self._lost()
                raise ClientGone("the client left the websocket") from exc
            if written == len(chunk):
                return transport.wrote()
            if written:  # part of the frame is out: the rest follows, or the connection ends
                return self._write_chunks([chunk[written:]])
        return self._write_chunks(chunks, data_frame=data_frame)

    async def _write_chunks(self, chunks: list[bytes], *, data_frame: bool = False) -> None:
        """`_write` with its waits (see there)."""
        if self._broken:
            raise ClientGone("the connection was aborted")
        transport = self._transport
        try:
            for chunk in chunks:
                if chunk:
                    await transport.write(chunk)
                else:  # websockets' SEND_EOF: the server ends the TCP connection
                    await transport.send_eof()
        except Broken as exc:
            self._lost()
            raise ClientGone("the client left the websocket") from exc
        except PartialWrite as exc:
            # Part of a frame is on the wire: the connection cannot go on.
            self.abort()
            raise exc.__cause__ from None  # type: ignore[misc]
        except trio.Cancelled:
            if not data_frame or self.protocol.extensions:
                self.abort()
            raise

    async def _take_turn_and_write_pending(self) -> None:
        async with self._turn:
            with contextlib.suppress(ClientGone):
                await self._write_pending()

    # ------------------------------------------------------------------ keepalive

    def ping_now(self, payload: bytes, frame: bytes) -> bool:
        """Send a keepalive ping without a task of its own, if it can go out at once: an
        application task is reading (it will read the pong) and the socket takes the frame.

        ``frame`` is the ping with ``payload``, made by ``websockets`` (the keepalive timer makes
        it once for every connection it pings in one pass: a server's control frame is the same
        bytes on every connection).

        Returns ``False`` having sent nothing otherwise: run `ping` in a task instead. A ping
        only part of which fits is finished in the background, as `send_frame_nowait` does.
        """
        transport = self._transport
        if (
            not self._reading
            or self._keepalive_scope is not None
            or self._broken
            or not self._protocol_open()
            or self._out  # pending output goes first: the ping task writes it
            or not isinstance(transport, SocketTransport)
            or not self._turn.try_take()
        ):
            return False
        try:
            written = os.write(transport.socket.fileno(), frame)
        except OSError:  # full, closed or failed: the ping task finds out which
            written = 0
        if not written:
            self._turn.release()
            return False
        self.ping_payload = payload
        self.ping_sent_at = trio.current_time()
        if self.unanswered_since is None:
            self.unanswered_since = self.ping_sent_at
        if written < len(frame):
            trio.lowlevel.spawn_system_task(self._write_rest, frame[written:])
        else:
            self._turn.release()
        return True

    async def ping(self, payload: bytes) -> None:
        """Send a keepalive ping, then read for the pong while the application does not read.

        Raises: nothing (a failed write ends the connection's reading as usual).
        """
        self.ping_payload = payload
        self.ping_sent_at = trio.current_time()
        if self.unanswered_since is None:
            self.unanswered_since = self.ping_sent_at
        if not self._protocol_open():
            return
        async with self._turn:
            if not self._protocol_open():
                return
            self.protocol.send_ping(payload)
            self._queue_output(self.protocol.data_to_send())
            await self._write_pending_soon()
        if self._broken:
            return
        while (
            self.ping_payload == payload
            and not self._reading
            and self.exchange.end is None
            and len(self._pending) < _KEEPALIVE_READ_AHEAD
        ):
            with trio.CancelScope() as scope:
                self._keepalive_scope = scope
                try:
                    await self._read_once()
                finally:
                    self._keepalive_scope = None
            if scope.cancelled_caught:
                return  # the application reads now; it will see the pong
        if len(self._pending) >= _KEEPALIVE_READ_AHEAD:
            self.unanswered_since = None  # it sends: alive; the application is not reading

    def shed_buffers(self) -> None:
        """Give back the empty message and output queues (the keepalive timer calls it now and
        then: an idle connection holds none; the next message or pong makes them again)."""
        if not self._pending:
            self._pending = _NO_MESSAGES
        if not self._out:
            self._out = _NO_OUTPUT

    async def fail_keepalive(self) -> None:
        """The pong did not come back in time: close with 1011, abort, report the disconnect."""
        self.exchange.record_end(1011, "keepalive ping timeout", by_server=True)
        with trio.move_on_after(1.0):
            async with self._turn:
                if self.protocol.state is _OPEN:
                    self.protocol.fail(1011, "keepalive ping timeout")
                    self._queue_output(self.protocol.data_to_send())
                with contextlib.suppress(ClientGone):
                    await self._write_pending()
        self.abort()

    def abort(self) -> None:
        """Close the socket now, waking any task blocked on it; the application sees 1006
        (marked as the server's end)."""
        self.exchange.record_end(1006, "", by_server=True)
        self._lost()
        self._transport.notify_closing()
        stream = getattr(self.stream, "transport_stream", self.stream)
        socket = getattr(stream, "socket", None)
        if socket is not None:
            socket.close()

    # ------------------------------------------------------------------ observation

    def ending(self) -> tuple[int, str, str]:
        """How the websocket ended: ``(code, reason, closed_by)`` (``"client"``/``"server"``).

        The side that sent the first close frame closed it; without any close frame, the
        side that dropped the TCP connection (code 1006).
        """
        protocol = self.protocol
        sent, received = protocol.close_sent, protocol.close_rcvd
        if sent is not None and (received is None or protocol.close_rcvd_then_sent is False):
            return int(sent.code), sent.reason, "server"
        if received is not None:
            return int(received.code), received.reason, "client"
        exchange = self.exchange
        code, reason = (1006, "") if exchange.end is None else exchange.end
        by_server = exchange.ended_by_server or code == 1011
        return code, reason, "server" if by_server else "client"

    # ------------------------------------------------------------------ shutdown and end

    async def close_for_shutdown(self) -> None:
        """Close an open websocket with the shutdown close code.

        The application's ``receive`` returns ``websocket.disconnect`` with that code once the
        client answered (or the grace period aborted the connection); its later sends are
        dropped.
        """
        close = self.exchange.server_closes(self.shutdown_close_code, "server shutdown")
        if close is None:
            return
        self.shutdown_code = close.code
        await self._send_close(close.code, close.reason)

    def notify_closing(self) -> None:
        """The socket is about to be closed: a task of the application still parked on the
        read poller (which closing the socket does not reach) raises
        ``trio.ClosedResourceError`` there now, as a wait on a closed socket does."""
        self._transport.notify_closing()

    async def finish(self) -> None:
        """End the connection politely once the application returned (or raised).

        An application that never answered the handshake gets HTTP 500 sent for it; one that
        accepted and did not close, a close 1011. Then the closing handshake, bounded by
        ``close_timeout``: read until the client's close frame (or EOF); the caller then closes
        the TCP connection, as the server should.

        Raises:
          OSError: the socket failed under us.

        Cancellation: propagates (the caller aborts the socket).
        """
        last = self.exchange.app_finished()
        if isinstance(last, Rejected):  # HTTP 500: the application never answered
            with trio.move_on_after(self.settings.close_timeout):
                await self._respond(last)
            return
        if last is not None:  # close 1011: it returned without closing
            with trio.move_on_after(self.settings.close_timeout):
                await self._send_close(last.code, last.reason)
        if (self._out and not self._broken) or not self._closing_handshake_done():
            with trio.move_on_after(self.settings.close_timeout):
                if self._out and not self._broken:
                    await self._take_turn_and_write_pending()
                while not self._closing_handshake_done():
                    if self._reading and self._keepalive_scope is None:
                        break  # an application task still reads; the caller closes the socket
                    await self._read_once()

    def _closing_handshake_done(self) -> bool:
        """Whether nothing more is to be read: the client's close frame (or EOF) is in, or the
        connection is broken."""
        protocol = self.protocol
        return (
            self._broken
            or protocol.close_rcvd is not None
            or protocol.state is _CLOSED
            or protocol.reader.eof
        )

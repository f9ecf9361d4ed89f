"""``ClientWebSocket``: what ``async with trio_ws.connect(url) as ws`` yields.

It is a thin face over a `trio_ws.WebSocket` in structured mode whose "server" is the
`ClientConnection`: the message methods, their errors, their cancellation guarantees and the
close rules of the block are the server side's own code, not a copy. What only a client has
is added here: ``subprotocol``, ``response_headers``, ``closed_by`` seen from the client, and
the keepalive's ``latency``.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Final, Unpack, final

from .._protocol import ClosedBy

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Awaitable, Callable

    import trio

    from .._structured import PosArgs, WebSocketStatistics
    from .._websocket import MessageIterator, WebSocket
    from ._connection import ClientConnection

__all__ = ["ClientClosedBy", "ClientWebSocket"]


class ClientClosedBy(enum.Enum):
    """Who ended a client connection (``ws.closed_by``), seen from the client."""

    #: This client closed: ``close()``, the block ending, a ``WebSocketException`` escaping,
    #: the block cancelled from outside (1001), or a keepalive ping timeout (1011).
    CLIENT = "client"
    #: The server closed, or the connection was lost (``close_code`` 1006).
    SERVER = "server"
    #: The block (or a task of ``ws.start_soon``) raised; the client closed with 1011.
    ERROR = "error"


_FROM_SERVER_SIDE: Final = {
    ClosedBy.APP: ClientClosedBy.CLIENT,
    ClosedBy.SERVER_SHUTDOWN: ClientClosedBy.CLIENT,  # cancelled from outside: going away
    ClosedBy.CLIENT: ClientClosedBy.SERVER,  # the peer of the WebSocket below is the server
    ClosedBy.ERROR: ClientClosedBy.ERROR,
}


@final
class ClientWebSocket:
    """An open client websocket, with the message API of `trio_ws.WebSocket`.

    Made by `trio_ws.connect`, never directly. Any number of tasks may send at once (each
    message goes out whole, in call order); one task at a time may receive.

    Attributes:
      url: the URL it was opened with.
      subprotocol: the subprotocol the server chose, or ``None``.
      response_headers: the headers of the server's 101 response, as ``(bytes, bytes)`` pairs
        with lower-case names (``trio_ws.Headers(raw=ws.response_headers)`` for a mapping).
    """

    __slots__ = ("_connection", "_ws", "response_headers", "subprotocol", "url")

    def __init__(
        self,
        websocket: WebSocket,
        connection: ClientConnection,
        *,
        url: str,
        subprotocol: str | None,
        response_headers: list[tuple[bytes, bytes]],
    ) -> None:
        self._ws = websocket
        self._connection = connection
        self.url = url
        self.subprotocol = subprotocol
        self.response_headers = response_headers

    def __repr__(self) -> str:
        state = "open" if self.close_code is None else f"closed {self.close_code}"
        return f"<ClientWebSocket {self.url!r} {state}>"

    # ------------------------------------------------------------------ how it ended

    @property
    def close_code(self) -> int | None:
        """The close code once the connection has ended, ``None`` while it is open: the
        server's code when it closed, this client's when it closed first, 1006 when the
        connection was lost, 1011 after an error in the block or a keepalive timeout."""
        return self._ws.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason that goes with `close_code` (``""`` if none was given)."""
        return self._ws.close_reason

    @property
    def closed_by(self) -> ClientClosedBy | None:
        """Who ended the connection (`ClientClosedBy`), ``None`` while it is open."""
        by = self._ws.closed_by
        if by is None:
            return None
        if self._connection.keepalive_failed and by is ClosedBy.CLIENT:
            return ClientClosedBy.CLIENT
        return _FROM_SERVER_SIDE[by]

    @property
    def keepalive_timed_out(self) -> bool:
        """Whether the connection ended because a pong did not come within ``ping_timeout``
        (the client closed with 1011; the server or the network is presumed dead)."""
        return self._connection.keepalive_failed

    @property
    def latency(self) -> float | None:
        """The round trip of the latest answered keepalive ping in seconds (``None`` before
        the first pong)."""
        return self._connection.latency

    # ------------------------------------------------------------------ receiving

    async def receive_message(self) -> str | bytes:
        """Receive the next message as it came: ``str`` for text, ``bytes`` for binary.

        Raises:
          WebSocketDisconnect: the server closed or the connection was lost; ``.code`` and
            ``.reason`` say how (also after a keepalive timeout: 1011).
          WebSocketDisconnected: this client already closed, or the end was already reported.
          trio.BusyResourceError: another task is receiving.

        Cancellation:
          Atomic: if this raises ``trio.Cancelled``, no message was consumed.
        """
        return await self._ws.receive_message()

    async def receive_text(self) -> str:
        """Receive the next message, which must be a text message (`receive_bytes`: binary).

        Raises:
          UnexpectedMessageType: the message was of the other kind (consumed; payload on
            ``.data``). Otherwise as `receive_message`.

        Cancellation:
          Atomic: if this raises ``trio.Cancelled``, no message was consumed.
        """
        return await self._ws.receive_text()

    async def receive_bytes(self) -> bytes:
        """Receive the next message, which must be a binary message.

        Raises:
          As `receive_text` (which says what a message of the other kind raises).

        Cancellation:
          As `receive_text`.
        """
        return await self._ws.receive_bytes()

    async def receive_json(self, mode: str = "text") -> Any:
        """Receive the next message and decode it as JSON (``mode="binary"``: UTF-8 bytes).

        Raises:
          InvalidJSONMessage: not valid JSON (consumed; payload on ``.data``).
          InvalidModeError: ``mode`` is neither ``"text"`` nor ``"binary"``.
          Otherwise as `receive_text` / `receive_bytes`.

        Cancellation:
          Atomic: if this raises ``trio.Cancelled``, no message was consumed.
        """
        return await self._ws.receive_json(mode)

    def iter_text(self) -> MessageIterator[str]:
        """An async iterator of text messages that ends when the server closes."""
        return self._ws.iter_text()

    def iter_bytes(self) -> MessageIterator[bytes]:
        """An async iterator of binary messages that ends when the server closes."""
        return self._ws.iter_bytes()

    def iter_json(self, mode: str = "text") -> MessageIterator[Any]:
        """An async iterator of JSON messages that ends when the server closes."""
        return self._ws.iter_json(mode)

    # ------------------------------------------------------------------ sending

    async def send_text(self, data: str) -> None:
        """Send a text message.

        Raises:
          TypeError: ``data`` is not a ``str``.
          WebSocketDisconnect: the server closed or the connection was lost.
          WebSocketDisconnected: this client already closed.

        Cancellation:
          If this raises ``trio.Cancelled`` the message was not sent and the connection goes
          on, or (a compressed frame, or one already partly written) the connection was
          aborted: the server never gets half a frame. A send stuck on a server that does not
          read never holds up a receive.
        """
        await self._ws.send_text(data)

    async def send_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Send a binary message.

        Raises:
          TypeError: ``data`` is not bytes-like. Otherwise as `send_text`.

        Cancellation:
          As `send_text`.
        """
        await self._ws.send_bytes(data)

    async def send_json(self, data: Any, mode: str = "text") -> None:
        """Send ``data`` as compact JSON in a text (default) or binary message.

        Raises:
          TypeError: not JSON-serialisable (nothing sent).
          InvalidModeError: ``mode`` is neither ``"text"`` nor ``"binary"``.
          Otherwise as `send_text`.

        Cancellation:
          As `send_text`.
        """
        await self._ws.send_json(data, mode)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection with ``code`` and ``reason``; idempotent.

        Later receives raise ``WebSocketDisconnected``; the block's end then waits (at most
        ``close_timeout``) for the server's answer.

        Raises:
          ValueError, TypeError: a code a client may not send (1000-1003, 1007-1014 and
            3000-4999 may be sent) or a reason over 123 UTF-8 bytes.

        Cancellation:
          The close is made even under cancellation (shielded, bounded by ``close_timeout``);
          the ``Cancelled`` is raised after it.
        """
        await self._ws.close(code, reason)

    # ------------------------------------------------------------------ the connection's tasks

    @property
    def nursery(self) -> trio.Nursery:
        """The connection's nursery: its tasks follow the block's close rules and are
        cancelled when the block ends."""
        return self._ws.nursery

    def start_soon(
        self,
        fn: Callable[[Unpack[PosArgs]], Awaitable[object]],
        *args: *PosArgs,
        name: object = None,
    ) -> None:
        """Start ``fn(*args)`` in the connection's nursery.

        Its exceptions follow the block's rules: a ``WebSocketException`` closes with its code,
        this connection's ``WebSocketDisconnect`` ends the block normally, anything else closes
        with 1011 and is raised out of ``connect`` unwrapped.

        Raises:
          RuntimeError: the block has ended.
        """
        self._ws.start_soon(fn, *args, name=name)

    async def wait_disconnected(self) -> None:
        """Wait until the connection has ended (either side); returns at once if it has.

        Raises:
          Nothing.

        Cancellation:
          Safe to cancel; it only waits.
        """
        await self._ws.wait_disconnected()

    def cancel_on_disconnect(self) -> contextlib.AbstractContextManager[trio.CancelScope]:
        """A cancel scope that is cancelled when the connection ends."""
        return self._ws.cancel_on_disconnect()

    def statistics(self) -> WebSocketStatistics:
        """A snapshot of the connection's buffers (`trio_ws.WebSocketStatistics`)."""
        return self._ws.statistics()

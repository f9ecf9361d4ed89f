"""``Link``: one connection's ASGI callables, its exchange and its send turn.

Both modes stand on it: `trio_ws.WebSocket` (direct mode) and the structured block
(`trio_ws._structured`) reach the server only through a ``Link``, and neither touches the
other's members. What it owns:

* the server's ``receive`` and ``send`` callables and the sans-I/O
  `Exchange` that checks every message;
* the **send turn**: one ASGI send at a time, first come first served, written once in
  `Link.send_in_turn` (take the turn, check, send, release);
* the rule that an ASGI send is never cancelled half-way (shielded unless the server declares
  ``trio_ws.cancel_safe_send``; see docs/hypercorn-facts.md, fact 5);
* the rule that ``OSError`` from the server's send (ASGI 2.4) means the peer is gone;
* the **bounded close**: shielded, and waiting at most ``close_timeout`` seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

import trio

from ._exceptions import WebSocketDisconnect
from ._send_turn import SendTurn

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._protocol import Exchange
    from ._types import Message, Receive, Send

__all__ = ["Link", "OneReader"]


@final
class Link:
    """The link between one connection's application side and its ASGI server.

    Args:
      exchange: the connection's protocol state.
      receive, send: the server's ASGI callables.
      close_timeout: how long a close may wait for sends in flight (seconds).
    """

    __slots__ = ("_send", "close_timeout", "exchange", "receive", "turn")

    def __init__(
        self, exchange: Exchange, receive: Receive, send: Send, *, close_timeout: float
    ) -> None:
        self.exchange = exchange
        #: The server's ``receive``. Callers keep the rule "one reader at a time" themselves
        #: (the application's receives with a `OneReader`; structured mode's pump with its
        #: reader state).
        self.receive = receive
        self._send = send
        self.turn = SendTurn()
        self.close_timeout = close_timeout

    async def send_in_turn(
        self,
        message: Message,
        prepare: Callable[[Message, bool], Message | None] | None = None,
    ) -> bool:
        """Send ``message`` when this caller's turn comes; return whether it was sent.

        ``prepare(message, waited)`` runs while the turn is held and returns what to send
        (``None`` for nothing); it raises to refuse. Taking a free turn is not a checkpoint.

        Raises:
          WebSocketDisconnect: the server's ``send`` raised ``OSError`` (code 1006).
          Whatever ``prepare`` or the server's ``send`` raised.

        Cancellation:
          If this raises ``trio.Cancelled``, nothing was sent (it was waiting for the turn).
          Once the message is handed to the server it goes out whole.
        """
        turn = self.turn
        waited = turn.held
        await turn.take()
        try:
            if prepare is not None:
                prepared = prepare(message, waited)
                if prepared is None:
                    return False
                message = prepared
            await self._send_whole(message)
        finally:
            turn.release()
        return True

    async def send_data(
        self, message: Message, recheck: Callable[[Message, bool], Message | None]
    ) -> None:
        """`send_in_turn` for a data message, with the per-message path written out: with the
        turn free, one coroutine layer; on a server whose send is cancel-safe no extra
        checkpoint (the server's send checks for cancellation before writing), on others
        (plain hypercorn) one cancellation check before the shielded send.

        Raises:
          As `send_in_turn`.

        Cancellation:
          If this raises ``trio.Cancelled``, nothing was sent.
        """
        turn = self.turn
        exchange = self.exchange
        if exchange.cancel_safe_send:
            if not turn.try_take():
                await trio.lowlevel.checkpoint_if_cancelled()
                await self.send_in_turn(message, recheck)
                return
            try:
                await self._send(message)
            except OSError as exc:  # ASGI 2.4: the connection is gone
                exchange.connection_lost()
                raise exchange.disconnect_error() from exc
            finally:
                turn.release()
            return
        # A server whose send must not be cancelled half-way (plain hypercorn): the caller's
        # cancellation is checked before the turn is taken, then the send runs shielded.
        await trio.lowlevel.checkpoint_if_cancelled()
        if not turn.try_take():
            await self.send_in_turn(message, recheck)
            return
        try:
            with trio.CancelScope(shield=True):
                await self._send(message)
        except OSError as exc:
            exchange.connection_lost()
            raise exchange.disconnect_error() from exc
        finally:
            turn.release()

    async def _send_whole(self, message: Message) -> None:
        """Hand one message to the server, never cancelled half-way. The turn is held."""
        try:
            if self.exchange.cancel_safe_send:
                await self._send(message)
            else:
                with trio.CancelScope(shield=True):
                    await self._send(message)
        except OSError as exc:  # ASGI 2.4: the connection is gone
            self.exchange.connection_lost()
            raise self.exchange.disconnect_error() from exc

    async def close(
        self, code: int, reason: str, drain: Callable[[], Awaitable[None]] | None = None
    ) -> bool:
        """Close with ``code`` and ``reason`` if the exchange still needs a close; shielded and
        bounded. The caller has checked them (``validate_close``); they are not checked again.

        ``drain`` (structured mode's outbox) is awaited first, inside the same bound. A peer
        that left first makes the close unnecessary, not an error.

        Returns:
          True if the close was sent; False if it was not needed, the peer had left, or
          ``close_timeout`` passed while sends were in flight.

        Raises:
          LocalProtocolError: a denial response is in progress.

        Cancellation:
          Runs to completion (or to ``close_timeout``) even when the caller is cancelled.
        """
        sent = False
        message = self.exchange.close_message(code, reason)
        with trio.CancelScope(shield=True) as scope:
            scope.relative_deadline = self.close_timeout
            if drain is not None:
                await drain()
            try:
                sent = await self.send_in_turn(message, self._prepare_close)
            except WebSocketDisconnect:
                pass  # the peer left first: the connection is closed all the same
        return sent

    def _prepare_close(self, message: Message, waited: bool) -> Message | None:
        return self.exchange.prepare_close(message)


@final
class OneReader:
    """The rule "one task receives at a time" for a connection's application: ``with
    reader: message = await ...`` around each receive.

    A plain context manager rather than a ``try``/``finally`` in a coroutine of its own:
    entering and leaving it are two calls per receive, where a coroutine layer is resumed
    again at every wake-up of the receive beneath it.
    """

    __slots__ = ("_busy",)

    def __init__(self) -> None:
        self._busy = False

    def __enter__(self) -> None:
        """Take the turn to receive.

        Raises:
          trio.BusyResourceError: another task is receiving.
        """
        if self._busy:
            raise trio.BusyResourceError("another task is already receiving on this WebSocket")
        self._busy = True

    def __exit__(self, *exc_info: object) -> None:
        """Give the turn back (however the receive ended)."""
        self._busy = False

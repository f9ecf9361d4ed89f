"""Throwaway sketches that price the proposed common paths; not trio_ws, not a design to copy.

They implement just enough of the Starlette-like API for the benchmark workloads to measure what
the proposals in bench/README.md ("Profile findings") would cost per message:

- :class:`LeanDirect`: direct mode with (1) a "send in flight" flag and a FIFO parking lot
  only when contended, instead of a lock round per send; (2) no shielded cancel scope on the
  common path: a ``checkpoint_if_cancelled()`` before the hand-off, and the shield kept only
  when the client offered permessage-deflate (the one case where a send cancelled inside the
  server corrupts later messages, docs/hypercorn-facts.md); (3) one coroutine frame per call.
- :class:`TokenStructured`: structured mode whose receive pump does not stand between a waiting
  receiver and the server. One "receive token" says who may call the ASGI ``receive``: a
  receiver that finds the buffer empty and the token free calls it itself (no task hop); the
  pump takes the token only when no receiver has been active for ``GRACE`` seconds (so the
  server's queue is drained and the disconnect noticed while the application is away). While
  receivers come and go it wakes once per ``GRACE`` (never once per message); once a receiver
  has sat in ``receive`` for a whole period it parks with no timer (an idle connection costs
  nothing) and the receiver's next exit wakes it.

Known gaps (it is a price tag, not an implementation): no close handshake rules, no overflow
policies, no writer queue, no ``ws.nursery`` API, minimal validation.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from .apps import Message, Receive, Scope, Send

#: How long the application may be away from ``receive`` before the pump takes over.
GRACE = 0.05


class Disconnected(Exception):
    """The peer went away (the prototype's ``WebSocketDisconnect``)."""


def _offers_deflate(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"sec-websocket-extensions" and b"permessage-deflate" in value:
            return True
    return False


class LeanDirect:
    """Direct mode, common path only."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self._shield = _offers_deflate(scope)
        self._sending = False
        self._send_waiters: trio.lowlevel.ParkingLot | None = None
        self._gone = False

    async def accept(self) -> None:
        message = await self._receive()
        assert message["type"] == "websocket.connect"
        await self._send_message({"type": "websocket.accept"})

    async def _next(self) -> Message:
        return await self._receive()

    async def receive_text(self) -> str:
        message = await self._next()
        text = message.get("text")
        if text is None:
            self._check_disconnect(message)
            raise TypeError("expected a text message")
        return text  # type: ignore[no-any-return]

    async def receive_bytes(self) -> bytes:
        message = await self._next()
        data = message.get("bytes")
        if data is None:
            self._check_disconnect(message)
            raise TypeError("expected a bytes message")
        return data  # type: ignore[no-any-return]

    def _check_disconnect(self, message: Message) -> None:
        if message["type"] == "websocket.disconnect":
            self._gone = True
            raise Disconnected(message.get("code", 1005))

    async def send_text(self, data: str) -> None:
        if type(data) is not str:
            raise TypeError("send_text() takes a str")
        await self._send_message({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        await self._send_message({"type": "websocket.send", "bytes": bytes(data)})

    async def close(self, code: int = 1000) -> None:
        await self._send_message({"type": "websocket.close", "code": code})

    async def _send_message(self, message: Message) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._gone:
            raise Disconnected(1006)
        if self._sending:
            if self._send_waiters is None:
                self._send_waiters = trio.lowlevel.ParkingLot()
            await self._send_waiters.park()  # cancellable; the releaser hands us the flag
        else:
            self._sending = True
        try:
            if self._shield:
                with trio.CancelScope(shield=True):
                    await self._send(message)
            else:
                # Nothing before the server's first real wait can be cancelled: we checked
                # just above, in the same task step.
                await self._send(message)
        finally:
            waiters = self._send_waiters
            if waiters:
                waiters.unpark()  # ownership passes to the next sender, FIFO
            else:
                self._sending = False


class TokenStructured(LeanDirect):
    """Structured mode's receive side with a receive token and a grace-delayed pump."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        super().__init__(scope, receive, send)
        self._buffer: deque[Message] | None = None
        self._holder: str | None = None  # None, "app" or "pump"
        self._arrived: trio.lowlevel.ParkingLot | None = None
        self._pump_parked: trio.lowlevel.ParkingLot | None = None
        self._pump_idle = False  # parked with no timer: the receiver has not moved for a period
        self._exits = 0  # how many times a receiver left the server's receive
        self._last_app = 0.0
        self._ended = False

    async def __aenter__(self) -> TokenStructured:
        self._nursery_cm = trio.open_nursery()
        self._nursery = await self._nursery_cm.__aenter__()
        self._nursery.start_soon(self._pump)
        return self

    async def __aexit__(self, *exc_info: Any) -> bool:
        self._nursery.cancel_scope.cancel()  # the prototype has no close rules: stop the pump
        await self._nursery_cm.__aexit__(None, None, None)
        return exc_info[0] is Disconnected

    async def _next(self) -> Message:
        self._last_app = trio.current_time()
        buffer = self._buffer
        if buffer:
            await trio.lowlevel.checkpoint_if_cancelled()
            return buffer.popleft()
        if self._holder is None:
            self._holder = "app"
            try:
                message = await self._receive()  # the server's receive is cancel-safe
            finally:
                self._holder = None
                self._last_app = trio.current_time()
                self._exits += 1
                if self._pump_idle:  # only after an idle period: not once per message
                    self._pump_idle = False
                    assert self._pump_parked is not None
                    self._pump_parked.unpark()
            if message["type"] == "websocket.disconnect":
                self._ended = True
            return message
        # The pump holds the token: wait for what it buffers.
        if self._arrived is None:
            self._arrived = trio.lowlevel.ParkingLot()
        while not self._buffer:
            await self._arrived.park()
        return self._buffer.popleft()

    async def _pump(self) -> None:
        # Three modes. Idle: the receiver sat in the server's receive for a whole period, so
        # park with no timer (idle connections cost nothing) until it leaves. Watching: the
        # receiver comes and goes, so wake once per GRACE, never once per message. Pumping:
        # nobody has received for GRACE, so read from the server into the buffer.
        seen = -1
        while not self._ended:
            now = trio.current_time()
            if self._holder == "app":
                if self._exits == seen:
                    if self._pump_parked is None:
                        self._pump_parked = trio.lowlevel.ParkingLot()
                    self._pump_idle = True
                    await self._pump_parked.park()
                    continue
                seen = self._exits
                await trio.sleep_until(now + GRACE)
                continue
            if now < self._last_app + GRACE:
                seen = self._exits
                await trio.sleep_until(self._last_app + GRACE)
                continue
            self._holder = "pump"
            try:
                message = await self._receive()
            finally:
                self._holder = None
            if self._buffer is None:
                self._buffer = deque()
            self._buffer.append(message)
            if self._arrived:
                self._arrived.unpark()
            if message["type"] == "websocket.disconnect":
                self._ended = self._gone = True


async def lean_direct_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The benchmark workloads through :class:`LeanDirect`."""
    from .apps import run_workload

    await run_workload(LeanDirect(scope, receive, send), scope, Disconnected)


async def token_structured_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The benchmark workloads through :class:`TokenStructured` in its ``async with`` block."""
    from .apps import run_workload

    async with TokenStructured(scope, receive, send) as ws:
        await run_workload(ws, scope, Disconnected)


async def _with_lifespan(scope: Scope, receive: Receive, send: Send, app: Any) -> None:
    if scope["type"] == "lifespan":
        from .apps import _lifespan

        await _lifespan(receive, send)
        return
    await app(scope, receive, send)


def get_prototype_app(name: str) -> Any:
    """``proto-direct`` or ``proto-structured`` as an ASGI app that also answers lifespan."""
    app = lean_direct_app if name == "proto-direct" else token_structured_app

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        await _with_lifespan(scope, receive, send, app)

    return asgi

"""``connect()``: open an in-memory WebSocket connection to an ASGI application."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

import trio

from .._server_exchange import ServerExchange
from ._client import WebSocketTestClient
from ._emulator import ServerEmulator
from ._exceptions import ConnectionRejected
from ._scope import HeadersInput, SpecVersion, build_scope

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

    from .._types import ASGIApp

__all__ = ["connect"]


@asynccontextmanager
async def connect(
    app: ASGIApp,
    path: str = "/",
    *,
    headers: HeadersInput | None = None,
    subprotocols: Iterable[str] = (),
    scheme: Literal["ws", "wss"] = "ws",
    client: tuple[str, int] | None = ("testclient", 50000),
    server: tuple[str, int | None] | None = ("testserver", 80),
    root_path: str = "",
    spec_version: SpecVersion = "2.5",
    denial_extension: bool = True,
    cancel_safe_send: bool = False,
    queue_size: int = 10,
    raise_app_exceptions: bool = True,
    close_timeout: float = 2.0,
) -> AsyncIterator[WebSocketTestClient]:
    """Connect to ``app`` in memory and yield the client once the app has accepted.

    The app runs in a nursery owned by this context manager and talks to the client over trio
    memory channels: no threads, no sockets, and deterministic under ``autojump_clock``::

        async with trio_ws.testing.connect(app, "/chat?room=1", subprotocols=["chat"]) as ws:
            await ws.send_text("hi")
            assert await ws.receive_text() == "hi"

    Args:
      app: any ASGI 3 application.
      path: the request target, with an optional query string.
      headers: extra request headers (a mapping or ``(name, value)`` pairs). ``host`` and the
        upgrade headers are added unless given.
      subprotocols: the subprotocols the client offers.
      scheme, client, server, root_path: copied into the scope.
      spec_version: the ASGI spec the emulated server speaks: ``"2.3"`` is hypercorn 0.18's
        (``websocket.receive`` carries both ``bytes`` and ``text``; sends after the client
        left are dropped; a second ``receive()`` after the disconnect hangs), ``"2.4"`` raises
        `OSError` from sends after the client left, ``"2.5"`` adds ``reason`` to
        ``websocket.disconnect``.
      denial_extension: whether the server offers ``websocket.http.response``.
      cancel_safe_send: declare the ``trio_ws.cancel_safe_send`` scope extension, as
        ``trio_ws.serve`` does (the emulated ``send`` is atomic under cancellation either way).
        Off by default, like hypercorn, so trio_ws shields its sends itself.
      queue_size: slots in the app's receive queue (hypercorn: 10). When full, client sends
        block.
      raise_app_exceptions: re-raise what the app raised out of ``connect`` (unwrapped, not as
        an ``ExceptionGroup``). When false it is available as ``client.app_exception``, and
        as the ``__cause__`` of a 500 `ConnectionRejected`.
      close_timeout: on exit (and after a rejection), how long to wait for the app to finish
        before cancelling it.

    On exit without an exception, the client closes with 1000 if the connection is still
    open, waits up to ``close_timeout`` for the app to return, then cancels it. If the body
    raises, the connection is abandoned (app sends are dropped) and the app is cancelled.

    Raises:
      ConnectionRejected: the app closed before accepting (403), sent a denial response (its
        status, headers and body), or returned or raised before answering (500).
      AppProtocolError: the app's accept was invalid (for example a subprotocol the client did
        not offer, which crashes hypercorn 0.18).
      Exception: whatever the app raised, when ``raise_app_exceptions`` is true. It takes
        precedence over an exception from the body, which is attached as a note.

    Cancellation:
      Cancelling the body (or the handshake) cancels the app too, and the ``Cancelled``
      propagates. The close on exit is bounded by ``close_timeout``.
    """
    scope = build_scope(
        path,
        headers=headers,
        subprotocols=subprotocols,
        scheme=scheme,
        client=client,
        server=server,
        root_path=root_path,
        spec_version=spec_version,
        denial_extension=denial_extension,
        cancel_safe_send=cancel_safe_send,
    )
    emulator = ServerEmulator(
        scope=scope,
        spec_version=spec_version,
        queue_size=queue_size,
        exchange=ServerExchange(tuple(scope["subprotocols"]), denial_extension),
    )
    failure: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            emulator.start(nursery, app)
            try:
                accepted = await emulator.wait_for_handshake()
            except ConnectionRejected:
                with trio.move_on_after(close_timeout):
                    await emulator.app_done.wait()  # so that an exception after denial shows
                raise
            websocket = WebSocketTestClient(emulator, accepted)
            try:
                yield websocket
            except BaseException:
                emulator.abandon()
                raise
            with trio.move_on_after(close_timeout):
                await websocket.close()
                await emulator.app_done.wait()
            nursery.cancel_scope.cancel("trio_ws.testing.connect() is done with the app")
    except BaseExceptionGroup as group:
        failure = _single_exception(group)
    _raise_outcome(emulator, failure, raise_app_exceptions=raise_app_exceptions)


def _single_exception(group: BaseExceptionGroup[BaseException]) -> BaseException:
    # The app runs in a task that never raises (its exception is recorded), and helper tasks
    # only ever raise Cancelled, so a group from our nursery holds one real exception: the one
    # from the body or the handshake. Cancelled ones beside it are absorbed by their scopes.
    real = [exc for exc in group.exceptions if not isinstance(exc, trio.Cancelled)]
    if not real:
        return group.exceptions[0]
    if len(real) == 1:
        return real[0]
    raise group  # pragma: no cover - not produced by our own tasks


def _raise_outcome(
    emulator: ServerEmulator, failure: BaseException | None, *, raise_app_exceptions: bool
) -> None:
    app_exception = emulator.app_exception if raise_app_exceptions else None
    if failure is not None and not isinstance(failure, Exception):
        raise failure  # Cancelled, KeyboardInterrupt...: never replaced
    if app_exception is not None:
        if isinstance(failure, ConnectionRejected):
            app_exception.add_note(
                f"trio_ws.testing.connect: the app raised this before accepting; "
                f"the client got HTTP {failure.status_code}"
            )
        elif failure is not None and failure is not app_exception:
            app_exception.add_note(f"trio_ws.testing.connect: the test body raised {failure!r}")
        raise app_exception
    if failure is not None:
        raise failure

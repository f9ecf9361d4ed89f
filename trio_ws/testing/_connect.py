"""``connect()``: open an in-memory WebSocket connection to an ASGI application."""

from __future__ import annotations

import math
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

import trio

from .._exceptions import WebSocketException
from .._options import ConnectionOptions
from .._server_exchange import ServerExchange
from ..client import ClientOptions, OpenTimeout
from ._client import WebSocketTestClient, scope_url
from ._emulator import ServerEmulator
from ._exceptions import ConnectionClosed, ConnectionRejected
from ._scope import HeadersInput, SpecVersion, build_scope

if TYPE_CHECKING:
    import ssl
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
    ssl_context: ssl.SSLContext | None = None,
    compression: Literal["deflate"] | None = "deflate",
    max_message_size: int | None = 2**20,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    open_timeout: float | None = 10.0,
    options: ConnectionOptions | None = None,
) -> AsyncIterator[WebSocketTestClient]:
    """Connect to ``app`` in memory and yield the client once the app has accepted.

    The app runs in a nursery owned by this context manager and talks to the client over trio
    memory channels: no threads, no sockets, and deterministic under ``autojump_clock``:

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

    The rest are `trio_ws.connect`'s options, accepted (and checked) so that one call site
    can serve both; in memory they mean:

      ssl_context: nothing; nothing is encrypted in memory (``scheme="wss"`` puts ``wss`` in
        the scope).
      compression: nothing; messages are not framed, so nothing is compressed, and the app
        sees no ``sec-websocket-extensions`` header.
      max_message_size: as on a socket: a message from the app larger than this (in bytes,
        UTF-8 for text) closes the connection with 1009 and the receive raises
        `ConnectionClosed` (1009). ``None``: no limit.
      ping_interval: ``ws.latency`` is ``0.0`` from ``ping_interval`` after the connection
        opened (the emulated server answers pings at once; ASGI apps never see them), ``None``
        before that or with ``None``.
      ping_timeout: nothing: in memory a pong is never late (``ws.keepalive_timed_out`` stays
        false); `WebSocketTestClient.drop` is how a test loses the connection.
      open_timeout: how long the app may take to accept (or refuse); after that ``connect``
        raises ``trio_ws.OpenTimeout`` and cancels the app. ``None``: no limit.
      options: the `trio_ws.ConnectionOptions` that ``ws.statistics()`` reports capacities
        from; in memory the buffers are the emulator's (see `WebSocketTestClient.statistics`).

    The block follows `trio_ws.connect`'s close rules, so client code behaves the same against
    both: on exit without an exception the client closes with 1000 if the connection is still
    open; a ``trio_ws.WebSocketException`` escaping closes with its code and reason and is
    absorbed, as is this connection's own `ConnectionClosed`; any other exception closes with
    1011 and propagates (then the connection is abandoned: app sends are dropped). In each
    case ``connect`` then waits up to ``close_timeout`` for the app to return and cancels it.
    Tasks of ``ws.start_soon`` are cancelled when the block ends.

    Raises:
      ValueError: an option ``trio_ws.connect`` would refuse.
      trio_ws.OpenTimeout: the app neither accepted nor refused within ``open_timeout``.
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
    subprotocols = tuple(subprotocols)
    client_options = ClientOptions(
        subprotocols=subprotocols,
        ssl_context=ssl_context,
        compression=compression,
        max_message_size=max_message_size,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        open_timeout=open_timeout,
        connection=options if options is not None else ConnectionOptions(),
    )
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
    absorbed: ConnectionClosed | None = None
    try:
        async with trio.open_nursery() as nursery:
            emulator.start(nursery, app)
            try:
                with trio.move_on_after(
                    math.inf if open_timeout is None else open_timeout
                ) as opening:
                    accepted = await emulator.wait_for_handshake()
            except ConnectionRejected:
                with trio.move_on_after(close_timeout):
                    await emulator.app_done.wait()  # so that an exception after denial shows
                raise
            if opening.cancelled_caught:
                raise OpenTimeout(
                    scope_url(scope),
                    f"the app did not answer within open_timeout={open_timeout} s",
                )
            websocket = WebSocketTestClient(emulator, accepted, client_options, close_timeout)
            await nursery.start(websocket._run_tasks)  # ws.nursery
            code, reason = 1000, ""
            try:
                yield websocket
            except WebSocketException as exc:
                code, reason = exc.code, exc.reason  # closes with it, as trio_ws.connect does
            except ConnectionClosed as exc:
                if exc.connection is not None:
                    raise  # not this connection's (the default is None: ours)
                absorbed = exc
            except Exception:
                websocket._failed = True
                with trio.move_on_after(close_timeout) as bounded:
                    bounded.shield = True
                    await websocket.close(1011)
                emulator.abandon()
                raise
            except BaseException:
                emulator.abandon()
                raise
            with trio.move_on_after(close_timeout):
                await websocket.close(code, reason)
                await emulator.app_done.wait()
            nursery.cancel_scope.cancel("trio_ws.testing.connect() is done with the app")
    except BaseExceptionGroup as group:
        failure = _single_exception(group)
    if failure is None and absorbed is not None and emulator.app_exception is not None:
        # Only when the app's exception is raised: it gets a note of what the body saw.
        failure = absorbed if raise_app_exceptions else None
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

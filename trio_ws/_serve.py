"""``trio_ws.serve``: an ASGI application on hypercorn's trio worker, its websockets on the engine.

The server loop below is hypercorn's own ``worker_serve`` rebuilt from hypercorn's components
(``Config``, ``Lifespan``, ``WorkerContext``, ``TCPServer``) so that these can be added around
them without forking any of them:

* every websocket is driven by trio_ws's engine (`trio_ws._engine`), whichever way it comes:
  `_Server.handle_connection` reads the first request head with ``websockets``' parser and
  keeps an HTTP/1.1 websocket upgrade; anything else (plain HTTP, HTTP/2, a head ``websockets``
  refuses) goes to hypercorn through a `ReplayStream` that first returns the bytes already
  read, and hypercorn hands back any websocket request it parses later (a keep-alive
  connection's next request, a head only h11 accepts) while HTTP/2 carries none
  (`trio_ws._serve_hypercorn`, the one module that knows hypercorn's internals);
* each hypercorn connection runs in `ContainedTCPServer`, so an exception escaping hypercorn's
  per-connection code ends that connection (with a 400 when nothing was sent yet) and is logged
  once, instead of tearing down the whole server;
* the app is wrapped by `ServedApp` for the lifespan scope;
* a TLS handshake is bounded by ``tls_handshake_timeout``;
* graceful shutdown closes every open websocket with a chosen code and, when the grace period
  ends, aborts the sockets of connections that are still running.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypedDict, Unpack

import trio
from hypercorn.config import Config
from websockets.exceptions import InvalidHeader
from websockets.extensions.permessage_deflate import enable_server_permessage_deflate

from ._accept import PlainSocketListener, accept_connections, close_forcefully
from ._compression import COMPRESSION_DEFAULTS, deflate_factories
from ._engine import (
    EngineConnection,
    EngineSettings,
    KeepaliveTimer,
    ReplayStream,
    Upgrade,
    parse_upgrade,
    read_upgrade,
)
from ._engine._scope import build_scope, offered_subprotocols
from ._observe_engine import EngineReporter
from ._protocol import CANCEL_SAFE_SEND_EXTENSION, DENIAL_EXTENSION, SEND_FRAME_NOWAIT_EXTENSION
from ._refusal import REFUSAL_EXTENSION
from ._serve_asgi import ServedApp, ShutdownRegistry
from ._serve_extension import KEEPALIVE_EXTENSION, SHUTDOWN_EXTENSION, ShutdownExtension
from ._serve_hypercorn import (
    BAD_REQUEST,
    ConnectionState,
    ContainedTCPServer,
    StatsdLogger,
    WorkerContext,
    parse_socket_addr,
    repr_socket_addr,
)
from ._startup import ReportingLifespan, single_startup_error
from ._ws_protocols import EngineProtocol

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from websockets.http11 import Response

    from ._observe import ServerObserver
    from ._types import ASGIApp, Scope

__all__ = ["DEFAULT_SETTINGS", "ServerSettings", "serve"]

_SHUTDOWN_CODES: Final = frozenset({1001, 1012})
#: The logger ``websockets`` gives a server protocol by default, looked up once rather than
#: per connection.
_PROTOCOL_LOGGER: Final = logging.getLogger("websockets.server")


class ServerSettings(TypedDict, total=False):
    """The websocket settings `serve` accepts as keyword arguments.

    Each key that is passed wins over the same field of the ``config`` argument; a key that is
    not passed keeps ``config``'s value when a ``config`` is given, and trio_ws's production
    default (`DEFAULT_SETTINGS`) otherwise. The keys that are not hypercorn ``Config`` fields
    (``ping_timeout``, ``compression``, ``close_timeout``, ``tls_handshake_timeout``) always
    default to `DEFAULT_SETTINGS`.
    """

    #: Largest message accepted, in bytes (UTF-8 bytes for text, after decompression); a larger
    #: one is refused with close code 1009 without being buffered. hypercorn's
    #: ``websocket_max_message_size``.
    max_message_size: int
    #: Seconds between server pings on every websocket (``None``: no pings).
    #: hypercorn's ``websocket_ping_interval``.
    ping_interval: float | None
    #: Seconds a connection may send nothing before it is dropped (``None``: forever). Keep it
    #: above ``ping_interval``: the pong answers keep a live client's connection readable, so a
    #: dead peer is detected within this time (under the engine, within 1.25 times it, never
    #: earlier). hypercorn's ``read_timeout``.
    read_timeout: float | None
    #: Seconds open connections get to finish after shutdown starts; when they are up, the
    #: remaining connections are cancelled and their sockets aborted.
    #: hypercorn's ``graceful_timeout``.
    graceful_timeout: float
    #: Seconds a ping's pong may take before the websocket is closed with 1011 and the
    #: application sees that disconnect (``None``: wait forever).
    ping_timeout: float | None
    #: ``"deflate"``: negotiate permessage-deflate when the client offers it; ``None``: never.
    compression: Literal["deflate"] | None
    #: Seconds the closing handshake may take once the application returned or closed (the
    #: client's close frame is awaited that long), and the longest a refusal or an error
    #: response may take to write, before the connection is closed.
    close_timeout: float
    #: Seconds a TLS client gets to complete its handshake before the connection is dropped
    #: (hypercorn's ``ssl_handshake_timeout``, whose own default is 60 s).
    tls_handshake_timeout: float
    #: permessage-deflate: the largest LZ77 window, as a power of two, the server compresses
    #: with (9-15; default 12, websockets' choice). Each compressed connection's memory grows
    #: with it (see ``docs/operations.md``).
    server_max_window_bits: int
    #: permessage-deflate: the largest window asked of a client that supports the parameter
    #: (8-15; default 12); the server's decompressor for that connection is this size.
    client_max_window_bits: int
    #: permessage-deflate: zlib's compression level, -1 to 9 (``None``: zlib's default, 6).
    compression_level: int | None
    #: permessage-deflate: zlib's ``memLevel`` for the compressor, 1 to 9 (default 5).
    compression_memory_level: int


#: trio_ws's production defaults for `ServerSettings`.
DEFAULT_SETTINGS: Final[ServerSettings] = {
    "max_message_size": 2**20,
    "ping_interval": 20.0,
    "read_timeout": 60.0,
    "graceful_timeout": 5.0,
    "ping_timeout": 20.0,
    "compression": "deflate",
    "close_timeout": 5.0,
    "tls_handshake_timeout": 10.0,
}

#: Settings that are not hypercorn ``Config`` fields (their defaults hold with any ``config``).
_ENGINE_KEYS: Final = frozenset(
    {
        "ping_timeout",
        "compression",
        "close_timeout",
        "tls_handshake_timeout",
        *COMPRESSION_DEFAULTS,
    }
)

_CONFIG_FIELDS: Final = {
    "max_message_size": "websocket_max_message_size",
    "ping_interval": "websocket_ping_interval",
    "read_timeout": "read_timeout",
    "graceful_timeout": "graceful_timeout",
}

#: Keys `serve` no longer accepts, with what to do instead.
_RETIRED: Final = {
    "websocket_engine": "websocket_engine was retired: trio_ws.serve drives every websocket "
    "with its engine; for hypercorn's own websocket stream run plain hypercorn "
    "(hypercorn --worker-class trio)",
}


def hypercorn_config(**fields: object) -> Config:
    """A hypercorn ``Config`` with ``fields`` set (so that callers need not import hypercorn)."""
    config = Config()
    for name, value in fields.items():
        if not hasattr(config, name):
            raise TypeError(f"hypercorn's Config has no field {name!r}")
        setattr(config, name, value)
    return config


def build_config(host: str, port: int, config: Config | None, settings: ServerSettings) -> Config:
    """The hypercorn ``Config`` `serve` runs with (a copy; ``config`` is not modified).

    Raises:
      TypeError: an unknown (or retired) keyword setting.
      ValueError: a ``max_message_size`` that is not positive.
    """
    for key, advice in _RETIRED.items():
        if key in settings:
            raise TypeError(advice)
    unknown = set(settings) - set(_CONFIG_FIELDS) - _ENGINE_KEYS
    if unknown:
        raise TypeError(f"serve() got unexpected keyword arguments {sorted(unknown)}")
    if config is None:
        result = Config()
        settings = {**DEFAULT_SETTINGS, **settings}
    else:
        result = copy.copy(config)
    for key, value in settings.items():
        if key not in _ENGINE_KEYS:
            setattr(result, _CONFIG_FIELDS[key], value)
    if result.websocket_max_message_size <= 0:
        raise ValueError("max_message_size must be positive")
    merged: ServerSettings = {**DEFAULT_SETTINGS, **settings}
    result.ssl_handshake_timeout = merged["tls_handshake_timeout"]
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    result.bind = [f"{host}:{port}"]
    return result


def build_engine_settings(config: Config, settings: ServerSettings) -> EngineSettings:
    """The engine's settings.

    Raises:
      ValueError: an unknown ``compression``, or a ``ping_timeout``, ``close_timeout`` or
        ``tls_handshake_timeout`` that is not positive.
    """
    merged: ServerSettings = {**DEFAULT_SETTINGS, **settings}
    compression = merged["compression"]
    if compression not in ("deflate", None):
        raise ValueError(f"compression must be 'deflate' or None, not {compression!r}")
    ping_timeout = merged["ping_timeout"]
    if ping_timeout is not None and ping_timeout <= 0:
        raise ValueError("ping_timeout must be positive or None")
    if not merged["close_timeout"] > 0:
        raise ValueError("close_timeout must be positive")
    if not merged["tls_handshake_timeout"] > 0:
        raise ValueError("tls_handshake_timeout must be positive")
    return EngineSettings(
        max_message_size=config.websocket_max_message_size,
        compression=compression,
        ping_interval=config.websocket_ping_interval,
        ping_timeout=ping_timeout,
        read_timeout=config.read_timeout,
        close_timeout=merged["close_timeout"],
    )


class _Abortable(Protocol):
    def abort(self) -> None: ...


class _Server:
    """One run of `serve`: its connections, its lifespan and its shutdown."""

    def __init__(
        self,
        app: ASGIApp,
        config: Config,
        close_code: int,
        engine: EngineSettings,
        observer: ServerObserver | None = None,
        deflate: list[Any] | None = None,
    ) -> None:
        self.config = config
        #: Reports the engine's events to the observer (``None``: nobody observes).
        self.reporter = EngineReporter(observer) if observer is not None else None
        self.user_app = app
        self.engine = engine
        self.keepalive = KeepaliveTimer(engine)
        #: websockets' extension factories (stateless; shared by every engine connection).
        self.extension_factories = (
            (deflate or enable_server_permessage_deflate(None)) if engine.compression else None
        )
        self.registry = ShutdownRegistry(close_code, config.graceful_timeout)
        # Scope extensions that are the same for every connection: one object each, not one
        # per connection (an idle server holds thousands of scopes).
        self._no_options: dict[str, Any] = {}
        #: ``scope["server"]`` by the socket's own address: the same few for every connection.
        self._server_addresses: dict[Any, Any] = {}
        #: `_accepted`, bound once (each connection's ``on_accept``).
        self._on_accept = self._accepted
        self._shutdown_extension: ShutdownExtension = {
            "close_code": self.registry.close_code,
            "event": self.registry.event,
            "grace_period": self.registry.grace_period,
        }
        self.app = ServedApp(app)
        self.context = WorkerContext(None)
        self.lifespan_state: dict[str, Any] = {}
        self.connections: set[_Abortable] = set()
        #: Set whenever the last open connection ends (checked only during shutdown).
        self.drained = trio.Event()

    async def handle_connection(
        self, stream: trio.abc.Stream, upgrade: Upgrade | None = None
    ) -> None:
        """Serve one connection until it ends, then close it.

        A websocket upgrade is served by the engine, the application running right here: an
        idle websocket waits in this coroutine and the application's, with no frame of ours
        in between (each would be kept for the connection's lifetime; an idle server holds
        thousands). Anything else is hypercorn's (`_first_upgrade`). ``upgrade``: a websocket
        request that hypercorn parsed on a keep-alive connection and handed back.

        Cancellation: the connection is dropped (the stream is closed).
        """
        try:
            if upgrade is None:
                upgrade = await self._first_upgrade(stream)
                if upgrade is None:
                    return
            try:
                prepared = await self._prepare_engine_connection(stream, upgrade)
                upgrade = None  # the request head is not kept for the connection's lifetime
                if prepared is None:
                    return
                connection, scope = prepared
                del prepared
                self.connections.add(connection)
                try:
                    try:
                        await self.user_app(scope, connection.receive, connection.send)
                    except Exception:
                        await self.config.log.exception("Error in ASGI Framework")
                    await connection.finish()
                except OSError:
                    pass  # the socket failed under us
                finally:
                    connection.notify_closing()  # the socket is closed next
                    self._engine_connection_ended(connection, scope)
            except Exception as failure:
                await self._contain(stream, failure)
        finally:
            await close_forcefully(stream)

    async def _first_upgrade(self, stream: trio.abc.Stream) -> Upgrade | None:
        """The connection's first request if it is a websocket upgrade for the engine; else
        ``None`` once hypercorn served the connection, or it was closed."""
        try:
            first = await self._first_request(stream)
        except trio.TooSlowError:
            first = None
        except Exception as failure:
            await self._contain(stream, failure)
            return None
        if first is None:
            await trio.aclose_forcefully(stream)
        elif isinstance(first, Upgrade):
            return first
        else:
            replay: Any = ReplayStream(stream, first) if first else stream
            await self._hypercorn_connection(replay)
        return None

    async def _contain(self, stream: trio.abc.Stream, failure: Exception) -> None:
        """A failure of the engine's own code ends that connection only, logged once."""
        await self.config.log.error(
            "trio_ws: the websocket engine failed on the connection from %s; that connection "
            "was closed and the server carries on",
            _peer(stream),
            exc_info=failure,
        )
        await trio.aclose_forcefully(stream)

    def _new_protocol(self) -> EngineProtocol:
        return EngineProtocol(
            extensions=self.extension_factories,
            max_size=self.engine.max_message_size,
            logger=_PROTOCOL_LOGGER,
        )

    async def _first_request(self, stream: trio.abc.Stream) -> Upgrade | bytes | None:
        """Read the first request head: an Upgrade for the engine, or bytes for hypercorn."""
        if isinstance(stream, trio.SSLStream):
            try:
                with trio.fail_after(self.config.ssl_handshake_timeout):
                    await stream.do_handshake()
            except trio.BrokenResourceError:
                return None
            if stream.selected_alpn_protocol() == "h2":
                return b""  # HTTP/2 is hypercorn's (and carries no websocket)
        return await read_upgrade(
            stream,
            self._new_protocol(),
            limit=self.config.h11_max_incomplete_size,
            patience=self.config.keep_alive_timeout,
        )

    async def _websocket_from_hypercorn(self, stream: trio.abc.Stream, head: bytes) -> None:
        """A websocket request hypercorn parsed: the engine serves it or refuses it.

        A head that ``websockets`` refuses gets its answer (431 for headers too large, 414
        for a request line too long, 400 otherwise, as on a fresh connection).
        """
        if isinstance(stream, ReplayStream):
            stream = stream.unwrapped()
        protocol = self._new_protocol()
        upgrade = parse_upgrade(protocol, head)
        if upgrade is not None:
            await self.handle_connection(stream, upgrade)
            return
        answer = b"".join(protocol.data_to_send()) or BAD_REQUEST
        await self.config.log.warning(
            "trio_ws: refused a websocket request from %s that websockets cannot parse (%s)",
            _peer(stream),
            protocol.handshake_exc,
        )
        with trio.move_on_after(self.engine.close_timeout):
            try:
                await stream.send_all(answer)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        await trio.aclose_forcefully(stream)

    async def _prepare_engine_connection(
        self, stream: trio.abc.Stream, upgrade: Upgrade
    ) -> tuple[EngineConnection, Scope] | None:
        """The connection and its scope; ``None`` once a refused handshake was answered."""
        config = self.config
        request = upgrade.request
        connection = EngineConnection(
            stream,
            request,
            upgrade.protocol,
            self.engine,
            config.log,
            self.registry.close_code,
            early=upgrade.early,
        )
        refusal: Response | None
        try:
            try:
                offered = offered_subprotocols(request)
            except InvalidHeader:
                refusal = upgrade.protocol.reject(400, "Invalid Sec-WebSocket-Protocol\n")
            else:
                if config.server_names and request.headers.get("Host") not in config.server_names:
                    refusal = upgrade.protocol.reject(404, "Unknown host\n")
                else:
                    refusal = connection.check_handshake(offered)
            if refusal is not None:
                if self.reporter is not None:
                    self.reporter.refused_by_engine(stream, upgrade, refusal)
                await config.log.warning(
                    "trio_ws: refused a websocket handshake from %s: HTTP %d (%s)",
                    _peer(stream),
                    refusal.status_code,
                    upgrade.protocol.handshake_exc or refusal.body.decode().strip(),
                )
                await connection.refuse(refusal)
                await trio.aclose_forcefully(stream)
                return None
            transport: Any = getattr(stream, "transport_stream", stream)
            socket = transport.socket
            family = socket.family  # (an enum conversion per read)
            scope = build_scope(
                request,
                secure=isinstance(stream, trio.SSLStream),
                client=parse_socket_addr(family, socket.getpeername()),
                server=self._server_address(socket, family),
                root_path=config.root_path,
                state=self.lifespan_state.copy(),
                extensions={
                    DENIAL_EXTENSION: self._no_options,
                    CANCEL_SAFE_SEND_EXTENSION: self._no_options,
                    SEND_FRAME_NOWAIT_EXTENSION: {
                        "send_frame_nowait": connection.send_frame_nowait
                    },
                    SHUTDOWN_EXTENSION: self._shutdown_extension,
                    KEEPALIVE_EXTENSION: connection.keepalive,
                    REFUSAL_EXTENSION: {},
                },
            )
        except BaseException as exc:
            await trio.aclose_forcefully(stream)
            if isinstance(exc, OSError):
                return None  # the peer left before getpeername
            raise
        connection.on_accept = self._on_accept
        if self.reporter is not None:
            self.reporter.watch(connection, scope)
        # websockets' parser keeps the Request for the connection's lifetime: its headers are
        # in the scope now, so the parsed copy goes.
        request.headers.clear()
        return connection, scope

    def _engine_connection_ended(self, connection: EngineConnection, scope: Scope) -> None:
        if self.reporter is not None:
            self.reporter.ended(connection, scope)
        self.registry.discard(connection)
        self.keepalive.discard(connection)
        self.connections.discard(connection)
        if not self.connections:
            self.drained.set()

    def _server_address(self, socket: trio.socket.SocketType, family: Any) -> Any:
        """``scope["server"]`` for a connection on ``socket`` (of ``family``): one object per
        local address (a listener's, or one per local interface for a wildcard bind), not per
        connection."""
        local = socket.getsockname()
        address = self._server_addresses.get(local)
        if address is None:
            address = self._server_addresses[local] = parse_socket_addr(family, local)
        return address

    def _accepted(self, connection: EngineConnection) -> None:
        if self.reporter is not None:
            self.reporter.accepted(connection)
        self.registry.add(connection)
        self.keepalive.add(connection)

    async def _hypercorn_connection(self, stream: trio.abc.Stream) -> None:
        client = _peer(stream)
        server = ContainedTCPServer(
            self.app,
            self.config,
            self.context,
            ConnectionState(self.lifespan_state.copy()),
            stream,
            self._websocket_from_hypercorn,
        )
        self.connections.add(server)
        try:
            await server.run()
        except* Exception as failure:
            await self.config.log.error(
                "trio_ws: hypercorn failed on the connection from %s; that connection was "
                "closed and the server carries on",
                client,
                exc_info=failure,
            )
            await trio.aclose_forcefully(stream)
        finally:
            self.connections.discard(server)
            if not self.connections:
                self.drained.set()

    async def run(
        self,
        shutdown_trigger: Callable[[], Awaitable[object]] | None,
        task_status: trio.TaskStatus[list[str]],
    ) -> None:
        config = self.config
        config.set_statsd_logger_class(StatsdLogger)
        lifespan = ReportingLifespan(self.app, config, self.lifespan_state)
        async with trio.open_nursery() as lifespan_nursery:
            await lifespan_nursery.start(lifespan.handle_lifespan)
            await lifespan.wait_for_startup()
            lifespan.raise_if_startup_failed()  # one error, before anything says "serving"
            lifespan_nursery.start_soon(self.keepalive.run, lifespan_nursery)
            listeners, urls = await self._listen()
            async with trio.open_nursery() as connection_nursery:
                try:
                    async with trio.open_nursery() as accept_nursery:
                        for listener in listeners:
                            accept_nursery.start_soon(
                                self._accept_loop, listener, connection_nursery
                            )
                        task_status.started(urls)
                        if shutdown_trigger is None:
                            await trio.sleep_forever()
                        await shutdown_trigger()
                        accept_nursery.cancel_scope.cancel("trio_ws server shutting down")
                finally:
                    # Reached on the trigger (graceful), and on cancellation or an error: then
                    # the connection nursery is cancelled already and _enforce_deadline aborts
                    # the sockets at once. Nothing here may be skipped by a Cancelled.
                    self.registry.begin(connection_nursery)
                    connection_nursery.start_soon(self._enforce_deadline, connection_nursery)
                    with trio.CancelScope(shield=True):
                        for listener in listeners:
                            await trio.aclose_forcefully(listener)
                        await self.context.terminated.set()
            await lifespan.wait_for_shutdown()
            lifespan_nursery.cancel_scope.cancel()

    async def _listen(self) -> tuple[list[trio.abc.Listener[Any]], list[str]]:
        sockets = self.config.create_sockets()
        listeners: list[trio.abc.Listener[Any]] = []
        urls: list[str] = []
        ssl_context = self.config.create_ssl_context()
        for sock in sockets.secure_sockets:
            if ssl_context is None:  # hypercorn only makes secure sockets with a certificate
                raise RuntimeError("hypercorn created a TLS socket without an SSL context")
            sock.listen(self.config.backlog)
            listeners.append(
                trio.SSLListener(
                    trio.SocketListener(trio.socket.from_stdlib_socket(sock)),
                    ssl_context,
                    https_compatible=True,
                )
            )
            urls.append("wss://" + repr_socket_addr(sock.family, sock.getsockname()))
        for sock in sockets.insecure_sockets:
            sock.listen(self.config.backlog)
            listeners.append(PlainSocketListener(sock))
            urls.append("ws://" + repr_socket_addr(sock.family, sock.getsockname()))
        for url in urls:
            await self.config.log.debug("trio_ws: serving on %s", url)
        return listeners, urls

    async def _accept_loop(
        self, listener: trio.abc.Listener[Any], connection_nursery: trio.Nursery
    ) -> None:
        await accept_connections(listener, self.handle_connection, connection_nursery)

    async def _enforce_deadline(self, connection_nursery: trio.Nursery) -> None:
        # Returns as soon as no connection is left. At the deadline, or at once if serve() is
        # being cancelled, cancel what is left and abort its sockets: that is what frees a task
        # blocked in a (hypercorn's shielded) write to a client that does not read.
        self.drained = trio.Event()
        try:
            with trio.move_on_after(self.config.graceful_timeout):
                if self.connections:
                    await self.drained.wait()
        finally:
            if self.connections:
                connection_nursery.cancel_scope.cancel("trio_ws: grace period over")
                for server in list(self.connections):
                    server.abort()
                with trio.CancelScope(shield=True):
                    await self.config.log.warning(
                        "trio_ws: aborted %d connection(s) still open at the end of the "
                        "%.1f s grace period",
                        len(self.connections),
                        self.config.graceful_timeout,
                    )


def _peer(stream: trio.abc.Stream) -> object:
    try:
        socket = getattr(getattr(stream, "transport_stream", stream), "socket")  # noqa: B009
        return socket.getpeername()
    except (AttributeError, OSError):
        return "an unknown peer"


async def serve(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    config: Config | None = None,
    shutdown_close_code: int = 1001,
    shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    observer: ServerObserver | None = None,
    **settings: Unpack[ServerSettings],
) -> None:
    """Serve the ASGI application ``app`` on hypercorn's trio worker until stopped.

    Use it with ``nursery.start(serve, app, host, port)`` to learn the bound URLs (``port=0``
    picks a free port), or ``trio.run(serve, app)``. On top of plain
    ``hypercorn.trio.serve`` it:

    * drives every websocket with trio_ws's engine, on a fresh connection or on a later
      request of a keep-alive one: the client's close code and reason reach the application
      (ASGI 2.5), keepalive pings with a pong timeout (1011), limits applied after
      decompression (1009, never buffered), ``send`` raising ``OSError`` once the client
      left, close frames before closing on protocol errors (1002/1007). HTTP/2 serves plain
      HTTP only: extended CONNECT (RFC 8441) is not advertised, so browsers open their
      websockets over HTTP/1.1, and a ``CONNECT`` stream is answered 501;
    * contains failures: a request that makes hypercorn or the engine raise inside one
      connection is answered with HTTP 400 or a closed connection, logged once, and the server
      keeps serving; a websocket request whose head ``websockets`` refuses is answered 400,
      414 or 431;
    * bounds a TLS handshake by ``tls_handshake_timeout``;
    * on graceful shutdown closes every open websocket with ``shutdown_close_code`` and never
      waits longer than the grace period, even for clients that stopped reading;
    * answers the ``lifespan`` scope for applications that return from it.

    Args:
      app: any ASGI 3 application.
      host: the interface to listen on (an IPv6 literal works too).
      port: the TCP port; 0 picks a free one (see ``task_status``).
      config: a hypercorn ``Config`` for everything else (TLS, logging, HTTP/2 limits, ...).
        It is copied, not modified. Its ``bind`` is replaced by ``host:port``.
      shutdown_close_code: the close code sent to open websockets on shutdown: 1001 ("going
        away") or 1012 ("service restart"). Applications can read it from the
        ``"trio_ws.shutdown"`` scope extension.
      shutdown_trigger: an async callable; when it returns, graceful shutdown starts.
      task_status: receives the list of bound URLs (``ws://`` or ``wss://``) once the
        lifespan startup finished and the sockets listen.
      observer: told what happens to each websocket (accepted, refused and why, ended with
        which code by which side, keepalive round trips): a `trio_ws.observe.ServerObserver`
        such as `trio_ws.observe.AccessLog` or `trio_ws.metrics.PrometheusMetrics`.
      **settings: the settings of `ServerSettings` (``max_message_size``, ``compression``
        and its window bits and levels, ``ping_interval``, ``ping_timeout``,
        ``read_timeout``, ``graceful_timeout``, ``close_timeout``, ``tls_handshake_timeout``).

    Graceful shutdown (``shutdown_trigger`` returned): stop accepting; close every open
    websocket with ``shutdown_close_code`` (the application's ``receive`` returns that
    disconnect code, its later sends are dropped); wait until every connection ended or
    ``graceful_timeout`` passed, then cancel the remaining application tasks and abort their
    sockets; then run the lifespan shutdown and return.

    Raises:
      TypeError: an unknown keyword setting (``websocket_engine`` was retired: plain
        ``hypercorn --worker-class trio`` is the way to run hypercorn's websocket stream).
      ValueError: ``shutdown_close_code`` is not 1001 or 1012, ``max_message_size``,
        ``ping_timeout``, ``close_timeout`` or ``tls_handshake_timeout`` is not positive,
        ``compression`` is unknown, or a compression setting is out of its range.
      OSError: the address could not be bound.
      hypercorn.utils.LifespanFailureError: the application failed its lifespan startup (one
        error, not a group; its message names the application's exception).

    Cancellation:
      Cancelling ``serve`` stops it at once, as it does for hypercorn: connections are cancelled
      and their sockets closed (clients see 1006), and the lifespan shutdown does not run. Use
      ``shutdown_trigger`` for a graceful stop.
    """
    if shutdown_close_code not in _SHUTDOWN_CODES:
        raise ValueError(f"shutdown_close_code must be 1001 or 1012, not {shutdown_close_code!r}")
    built = build_config(host, port, config, settings)
    engine = build_engine_settings(built, settings)
    deflate = deflate_factories(settings)
    server = _Server(app, built, shutdown_close_code, engine, observer, deflate)
    try:
        await server.run(shutdown_trigger, task_status)
    except BaseExceptionGroup as group:
        startup_error = single_startup_error(group)
        if startup_error is None:
            raise
        raise startup_error from None
    finally:
        for connection in list(server.connections):
            connection.abort()

"""``trio_ws.connect(url, **options)``: open a client websocket as an async context manager.

The object `connect` returns does its work in ``__aenter__``/``__aexit__`` (it is not a
generator, so nothing yields inside the connection's nursery): enter opens the websocket
(`._open`), builds the `ClientConnection` and a `trio_ws.WebSocket` over it in structured mode,
and starts the keepalive in the connection's nursery; exit applies structured mode's close
rules, waits for the closing handshake and closes the socket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from .._options import ConnectionOptions
from .._protocol import CANCEL_SAFE_SEND_EXTENSION
from .._websocket import WebSocket
from ._connection import ClientConnection
from ._open import open_websocket, parse_url, request_headers
from ._websocket import ClientWebSocket

if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterable
    from types import TracebackType

    from .._types import Scope
    from ._open import HeadersInput, Opened

__all__ = ["ClientOptions", "Connect", "connect"]

_ASGI: Final = {"version": "3.0", "spec_version": "2.5"}


def _optional_positive(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{attribute.name} must be a number > 0 or None, got {value!r}")


def _compression(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in ("deflate", None):
        raise ValueError(f'compression must be "deflate" or None, got {value!r}')


def _message_size(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (type(value) is not int or value < 1):
        raise ValueError(f"max_message_size must be an int >= 1 or None, got {value!r}")


@attrs.frozen(kw_only=True)
class ClientOptions:
    """The options of `trio_ws.connect` (and `trio_ws.keep_connected`), checked when made.

    See `connect` for what each one means.
    """

    subprotocols: tuple[str, ...] = ()
    headers: tuple[tuple[bytes, bytes], ...] = ()
    ssl_context: ssl.SSLContext | None = None
    compression: Literal["deflate"] | None = attrs.field(default="deflate", validator=_compression)
    max_message_size: int | None = attrs.field(default=2**20, validator=_message_size)
    ping_interval: float | None = attrs.field(default=20.0, validator=_optional_positive)
    ping_timeout: float | None = attrs.field(default=20.0, validator=_optional_positive)
    open_timeout: float | None = attrs.field(default=10.0, validator=_optional_positive)
    close_timeout: float = attrs.field(default=5.0, validator=_optional_positive)
    connection: ConnectionOptions = attrs.field(factory=ConnectionOptions)


def connect(
    url: str,
    *,
    subprotocols: Iterable[str] = (),
    headers: HeadersInput | None = None,
    ssl_context: ssl.SSLContext | None = None,
    compression: Literal["deflate"] | None = "deflate",
    max_message_size: int | None = 2**20,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    open_timeout: float | None = 10.0,
    close_timeout: float = 5.0,
    options: ConnectionOptions | None = None,
) -> Connect:
    """Open a websocket to ``url`` (``ws://`` or ``wss://``) for the block of an ``async with``.

    Typical use:

        async with trio_ws.connect("wss://example.com/feed", subprotocols=["v1"]) as ws:
            await ws.send_json({"subscribe": "prices"})
            async for update in ws.iter_json():
                ...

    The block is structured mode, as on the server: ending normally closes with 1000; a
    `trio_ws.WebSocketException` escaping closes with its code and reason (absorbed); a
    ``WebSocketDisconnect`` of this connection ends the block normally; any other exception
    closes with 1011 and comes out unwrapped; tasks of ``ws.start_soon`` follow the same rules;
    cancelled from outside, it closes with 1001 (going away).

    Args:
      url: ``ws://host[:port]/path?query`` or ``wss://...``.
      subprotocols: the subprotocols to offer; ``ws.subprotocol`` is the server's choice.
      headers: extra request headers (a mapping or ``(name, value)`` pairs), e.g. ``Origin``,
        ``Authorization``, cookies. ``Host`` replaces the default; the upgrade headers are
        refused.
      ssl_context: for ``wss://``; default ``ssl.create_default_context()``.
      compression: ``"deflate"`` to offer permessage-deflate, ``None`` not to.
      max_message_size: the largest message accepted, in bytes (after decompression); a larger
        one closes with 1009. ``None``: no limit.
      ping_interval: seconds between keepalive pings (``None``: no pings).
      ping_timeout: seconds a pong may take; later, the client closes with 1011 and
        ``receive_*`` raises ``WebSocketDisconnect(1011)``. ``None``: wait forever.
      open_timeout: seconds for resolving, connecting, TLS and the upgrade together.
      close_timeout: seconds the close (and the server's answer to it) may take.
      options: inbound/outbound buffers and the overflow policy of the block
        (`trio_ws.ConnectionOptions`); its ``close_timeout`` is replaced by ``close_timeout``.

    Raises:
      ValueError, TypeError: a bad URL or option (before any I/O).
      DNSError, TCPConnectError, TLSError, OpenTimeout, HandshakeFailed: opening failed.
      HandshakeRejected: the server answered with an HTTP status instead of 101
        (``.status_code``, ``.headers``, ``.body``).

    Cancellation:
      Cancelled while opening, the connection is closed and nothing is left behind. The close
      at the end of the block is shielded and bounded by ``close_timeout``.
    """
    client_options = ClientOptions(
        subprotocols=tuple(subprotocols),
        headers=tuple(request_headers(headers)),
        ssl_context=ssl_context,
        compression=compression,
        max_message_size=max_message_size,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        open_timeout=open_timeout,
        close_timeout=close_timeout,
        connection=attrs.evolve(
            options if options is not None else ConnectionOptions(),
            close_timeout=close_timeout,
            shutdown_code=1001,
        ),
    )
    return Connect(url, client_options)


class Connect:
    """The async context manager `connect` returns; entered once."""

    __slots__ = ("_connection", "_options", "_url", "_websocket")

    def __init__(self, url: str, options: ClientOptions) -> None:
        parse_url(url, options.ssl_context)  # a bad URL fails at the call, not at enter
        self._url = url
        self._options = options
        self._websocket: WebSocket | None = None
        self._connection: ClientConnection | None = None

    async def __aenter__(self) -> ClientWebSocket:
        if self._connection is not None:
            raise RuntimeError("a trio_ws.connect() object can be entered only once")
        options = self._options
        uri = parse_url(self._url, options.ssl_context)
        opened = await open_websocket(
            self._url,
            uri,
            subprotocols=options.subprotocols,
            headers=list(options.headers),
            ssl_context=options.ssl_context,
            compression=options.compression,
            max_message_size=options.max_message_size,
            open_timeout=options.open_timeout,
        )
        connection = ClientConnection(
            opened.stream,
            opened.protocol,
            opened.early_events,
            close_timeout=options.close_timeout,
        )
        self._connection = connection
        try:
            await connection.start()
            websocket = WebSocket(
                _scope(opened, options),
                connection.receive,
                connection.send,
                options=options.connection,
            )
            await websocket.accept()  # the handshake is done; this moves the states on
            await websocket.__aenter__()
        except BaseException:
            connection.abort()
            await connection.finish()
            raise
        self._websocket = websocket
        if options.ping_interval is not None:
            capacity = options.connection.inbound_buffer
            websocket.start_soon(
                connection.keepalive,
                options.ping_interval,
                options.ping_timeout,
                lambda: websocket.statistics().inbound_buffered >= capacity,
                name=f"trio_ws keepalive {self._url}",
            )
        return ClientWebSocket(
            websocket,
            connection,
            url=self._url,
            subprotocol=opened.protocol.subprotocol,
            response_headers=[
                (k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in opened.response.headers.raw_items()
            ],
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        websocket, connection = self._websocket, self._connection
        assert websocket is not None
        assert connection is not None
        try:
            return await websocket.__aexit__(exc_type, exc, tb)
        finally:
            await connection.finish()


def _scope(opened: Opened, options: ClientOptions) -> Scope:
    """The scope of the `trio_ws.WebSocket` under a client: the request this client made."""
    uri = opened.uri
    return {
        "type": "websocket",
        "asgi": _ASGI,
        "http_version": "1.1",
        "scheme": "wss" if uri.secure else "ws",
        "server": (uri.host, uri.port),
        "client": None,
        "path": uri.path or "/",
        "raw_path": (uri.path or "/").encode(),
        "query_string": uri.query.encode(),
        "root_path": "",
        "headers": list(options.headers),
        "subprotocols": list(options.subprotocols),
        "extensions": {CANCEL_SAFE_SEND_EXTENSION: {}},
    }

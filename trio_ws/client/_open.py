"""Opening a client websocket: resolve, connect, TLS, the HTTP upgrade; every failure typed.

`open_websocket` returns the stream and the ``ClientProtocol`` in ``OPEN`` state, or raises
one of `trio_ws.client._errors`' classes (each says in one line which step failed and for which
URL). Nothing here runs after the websocket is open.
"""

from __future__ import annotations

import math
import socket
import ssl
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final, Literal

import attrs
import trio
from websockets.exceptions import InvalidStatus, InvalidURI
from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
from websockets.uri import parse_uri

from .._engine._transport import Broken, PartialWrite, transport_for
from .._protocol import validate_headers
from .._ws_protocols import ClientSideProtocol
from ._errors import (
    DNSError,
    HandshakeFailed,
    HandshakeRejected,
    OpenTimeout,
    TCPConnectError,
    TLSError,
)

if TYPE_CHECKING:
    from websockets.client import ClientProtocol
    from websockets.http11 import Response
    from websockets.uri import WebSocketURI

__all__ = ["HeadersInput", "Opened", "open_websocket", "request_headers"]

#: Extra request headers: a mapping, or ``(name, value)`` pairs of ``str`` or ``bytes``.
HeadersInput = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]

#: Request headers the handshake writes itself; giving them as extra headers is an error.
_RESERVED: Final = frozenset(
    [
        b"upgrade",
        b"connection",
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"sec-websocket-accept",
    ]
)


@attrs.frozen
class Opened:
    """What a successful upgrade leaves: the stream, the protocol, the 101 response, and any
    frames that came with it."""

    stream: trio.abc.Stream
    protocol: ClientProtocol
    response: Response
    early_events: list[object]
    uri: WebSocketURI


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("latin-1") if isinstance(value, str) else value


def request_headers(headers: HeadersInput | None) -> list[tuple[bytes, bytes]]:
    """Extra request headers as validated ``(bytes, bytes)`` pairs.

    Raises:
      TypeError: not a mapping or pairs of ``str``/``bytes``.
      ValueError: a name that is not an HTTP token, CR/LF/NUL in a value, or a header the
        WebSocket handshake sets itself (``Upgrade``, ``Connection``, ``Sec-WebSocket-*``).
    """
    if headers is None:
        return []
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    try:
        raw = [(_as_bytes(name), _as_bytes(value)) for name, value in pairs]
    except (TypeError, ValueError, AttributeError) as exc:
        raise TypeError(f"headers must be a mapping or (name, value) pairs: {exc}") from None
    result = validate_headers(raw, "request")
    for name, _ in result:
        if name.lower() in _RESERVED:
            raise ValueError(
                f"request header {name.decode('latin-1')!r} is set by the WebSocket handshake; "
                "use connect()'s subprotocols= and compression= options instead"
            )
    return result


def parse_url(url: str, ssl_context: ssl.SSLContext | None) -> WebSocketURI:
    """Parse a ``ws://`` or ``wss://`` URL.

    Raises:
      ValueError: not a WebSocket URL, or an ``ssl_context`` with a ``ws://`` URL.
    """
    try:
        uri = parse_uri(url)
    except InvalidURI as exc:
        raise ValueError(f"not a ws:// or wss:// URL: {url!r} ({exc.msg})") from None
    if ssl_context is not None and not uri.secure:
        raise ValueError(f"ssl_context was given for a ws:// URL ({url}); use wss://")
    return uri


async def open_websocket(
    url: str,
    uri: WebSocketURI,
    *,
    subprotocols: Iterable[str],
    headers: list[tuple[bytes, bytes]],
    ssl_context: ssl.SSLContext | None,
    compression: Literal["deflate"] | None,
    max_message_size: int | None,
    open_timeout: float | None,
) -> Opened:
    """Open the websocket at ``url``: TCP, TLS for ``wss://``, the upgrade.

    Raises:
      DNSError, TCPConnectError, TLSError, HandshakeRejected, HandshakeFailed, OpenTimeout:
        which step failed (all `trio_ws.ConnectError`, an ``OSError``).

    Cancellation: the connection made so far is closed and ``Cancelled`` propagates.
    """
    with trio.move_on_after(math.inf if open_timeout is None else open_timeout):
        stream = await _connect_tcp(url, uri.host, uri.port)
        try:
            if uri.secure:
                stream = await _start_tls(url, stream, uri.host, ssl_context)
            return await _upgrade(
                url,
                stream,
                uri,
                subprotocols=subprotocols,
                headers=headers,
                compression=compression,
                max_message_size=max_message_size,
            )
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
    raise OpenTimeout(url, f"the websocket did not open within open_timeout={open_timeout} s")


async def _connect_tcp(url: str, host: str, port: int) -> trio.abc.Stream:
    try:
        return await trio.open_tcp_stream(host, port)
    except socket.gaierror as exc:
        raise DNSError(url, f"cannot resolve host {host!r}: {exc.strerror or exc}") from exc
    except OSError as exc:
        detail = exc.strerror or str(exc)
        raise TCPConnectError(url, f"cannot connect to {host}:{port}: {detail}") from exc


async def _start_tls(
    url: str, stream: trio.abc.Stream, host: str, ssl_context: ssl.SSLContext | None
) -> trio.SSLStream[trio.abc.Stream]:
    context = ssl_context if ssl_context is not None else ssl.create_default_context()
    tls = trio.SSLStream(stream, context, server_hostname=host, https_compatible=True)
    try:
        await tls.do_handshake()
    except (trio.BrokenResourceError, ssl.SSLError) as exc:
        cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) else exc
        detail = getattr(cause, "verify_message", None) or getattr(cause, "reason", None)
        raise TLSError(url, f"TLS handshake with {host} failed: {detail or cause}") from exc
    return tls


async def _upgrade(
    url: str,
    stream: trio.abc.Stream,
    uri: WebSocketURI,
    *,
    subprotocols: Iterable[str],
    headers: list[tuple[bytes, bytes]],
    compression: Literal["deflate"] | None,
    max_message_size: int | None,
) -> Opened:
    offered = list(subprotocols)
    protocol = ClientSideProtocol(
        uri,
        extensions=enable_client_permessage_deflate(None) if compression == "deflate" else None,
        subprotocols=offered or None,  # type: ignore[arg-type]  # Subprotocol is a NewType
        max_size=max_message_size,
    )
    request = protocol.connect()
    for name, value in headers:
        name_str = name.decode("latin-1")
        if name.lower() == b"host":
            del request.headers[name_str]
        request.headers[name_str] = value.decode("latin-1")
    protocol.send_request(request)
    transport = transport_for(stream)
    try:
        for chunk in protocol.data_to_send():
            await transport.write(chunk)
        while True:
            data = await transport.receive()
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            events = protocol.events_received()
            exc = protocol.handshake_exc
            if exc is not None:
                if isinstance(exc, InvalidStatus):
                    response = exc.response
                    raise HandshakeRejected(
                        url,
                        response.status_code,
                        [
                            (k.lower().encode("latin-1"), v.encode("latin-1"))
                            for k, v in response.headers.raw_items()
                        ],
                        bytes(response.body or b""),
                    )
                raise HandshakeFailed(url, f"invalid upgrade response: {exc}") from exc
            if events:
                response = events[0]  # type: ignore[assignment]
                return Opened(stream, protocol, response, list(events[1:]), uri)
            if not data:
                raise HandshakeFailed(url, "the server closed the connection before answering")
    except PartialWrite as exc:
        raise exc.__cause__ from None  # type: ignore[misc]  # the Cancelled: open_timeout
    except Broken as exc:
        raise HandshakeFailed(url, "the connection failed during the upgrade") from exc

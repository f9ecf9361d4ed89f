"""Every internal of hypercorn that `trio_ws.serve` relies on, and nothing else.

hypercorn serves HTTP for `trio_ws.serve` (HTTP/1.1 and HTTP/2, lifespan, TLS set-up, config);
websockets never run on hypercorn's ``WSStream``. Three hypercorn internals make that hold
(each is pinned by ``tests/integration/test_hypercorn_internals.py`` and described in
``docs/hypercorn-facts.md``):

* **A websocket on HTTP/1.1 goes to the engine.** hypercorn turns an HTTP/1.1 request into a
  ``WSStream`` in ``H11Protocol._create_stream`` when it is a ``GET`` with ``Connection:
  upgrade`` and ``Upgrade: websocket``; that happens for an upgrade on a later request of a
  keep-alive connection and for heads that ``websockets``' parser refused but h11 accepts. The
  guarded protocol raises `WebsocketRequest` there instead, with the request head rebuilt and
  the bytes h11 read after it; `ContainedTCPServer` catches it in the reading task and hands
  the connection to the engine (which serves it, or refuses it as it refuses any bad head).
* **HTTP/2 carries no websocket.** hypercorn's ``H2Protocol`` advertises
  ``SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`` and makes a ``WSStream`` of every ``CONNECT``
  stream. The guarded protocol advertises nothing (browsers then open their websockets over
  HTTP/1.1) and answers any ``CONNECT`` stream with ``501`` and ``RST_STREAM(NO_ERROR)``.
* **A failing connection stays one connection.** An exception on hypercorn's reading side is
  answered with ``400`` when nothing was written yet, and ends only that connection.

The module also names the rest of hypercorn that `trio_ws.serve` builds its server loop from
(``Lifespan``, ``WorkerContext``, ``StatsdLogger``, ``ConnectionState``, ``parse_socket_addr``,
``repr_socket_addr``); only the public ``Config`` is imported elsewhere.

The guards are installed per connection by swapping the class of the protocol objects that
``TCPServer.run`` and ``ProtocolWrapper.handle`` create (``ProtocolWrapper`` switches from h11
to h2 for prior knowledge and ``Upgrade: h2c``), so hypercorn itself is not patched: plain
hypercorn in the same process keeps its own behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import h2.errors
import h2.exceptions
import h2.settings
import trio
from hypercorn.events import RawData, Updated
from hypercorn.protocol import ProtocolWrapper
from hypercorn.protocol.h2 import H2Protocol
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.statsd import StatsdLogger
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import parse_socket_addr, repr_socket_addr

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import h11
    from hypercorn.config import Config
    from hypercorn.typing import AppWrapper

__all__ = [
    "BAD_REQUEST",
    "ConnectionState",
    "ContainedTCPServer",
    "Lifespan",
    "StatsdLogger",
    "WebsocketRequest",
    "WorkerContext",
    "parse_socket_addr",
    "repr_socket_addr",
]

#: The answer to a request nobody can serve (also the engine's, for heads it cannot parse).
BAD_REQUEST: Final = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 12\r\nconnection: close\r\n\r\nBad Request\n"
)
#: How long the 400 written to a failed connection may take before the socket is just closed.
_BAD_REQUEST_TIMEOUT: Final = 1.0
_CONNECT: Final = b"CONNECT"


class WebsocketRequest(Exception):
    """hypercorn's h11 parsed a websocket upgrade request; the engine takes the connection.

    ``head`` is the request head as h11 read it (request line and headers, names as sent),
    followed by every byte the client sent after it.
    """

    def __init__(self, head: bytes) -> None:
        super().__init__("websocket upgrade request")
        self.head = head


def _is_websocket_upgrade(request: h11.Request) -> bool:
    """hypercorn's own rule for making a ``WSStream`` of an HTTP/1.1 request."""
    upgrade = connection = ""
    for name, value in request.headers:
        if name == b"upgrade":
            upgrade = value.decode("latin-1").strip()
        elif name == b"connection":
            connection = value.decode("latin-1").strip()
    return (
        request.method.upper() == b"GET"
        and upgrade.lower() == "websocket"
        and "upgrade" in (token.strip() for token in connection.lower().split(","))
    )


def _rebuilt_head(request: h11.Request, after: bytes) -> bytes:
    lines = [b"%s %s HTTP/%s\r\n" % (request.method, request.target, request.http_version)]
    lines.extend(b"%s: %s\r\n" % (name, value) for name, value in request.headers.raw_items())
    lines.append(b"\r\n")
    lines.append(after)
    return b"".join(lines)


class _GuardedH11Protocol(H11Protocol):
    """hypercorn's HTTP/1.1 protocol; a websocket request leaves it as `WebsocketRequest`."""

    async def _create_stream(self, request: h11.Request) -> None:
        if _is_websocket_upgrade(request):
            after = self.connection.trailing_data[0]
            raise WebsocketRequest(_rebuilt_head(request, bytes(after)))
        await super()._create_stream(request)


class _RefusedStream:
    """Stands in for a refused ``CONNECT`` stream until hypercorn's event batch is handled."""

    idle = True

    async def handle(self, event: object) -> None:
        """Frames of the refused request that arrived with its headers are dropped."""


class _GuardedH2Protocol(H2Protocol):
    """hypercorn's HTTP/2 protocol without websockets: no extended CONNECT, 501 for CONNECT."""

    async def _create_stream(self, request: Any) -> None:
        method = next((value for name, value in request.headers if name == b":method"), b"")
        if method.upper() != _CONNECT:
            await super()._create_stream(request)
            return
        stream_id = request.stream_id
        headers = [(b":status", b"501"), (b"content-length", b"0")]
        self.connection.send_headers(
            stream_id, headers + self.config.response_headers("h2"), end_stream=True
        )
        # A complete response, then "stop sending the request" (RFC 9113 §8.1), unless the
        # client already ended it (the stream is closed then).
        try:
            self.connection.reset_stream(stream_id, error_code=h2.errors.ErrorCodes.NO_ERROR)
        except h2.exceptions.StreamClosedError:
            pass
        self.streams[stream_id] = _RefusedStream()  # type: ignore[assignment]

    async def _handle_events(self, events: list[Any]) -> None:
        await super()._handle_events(events)
        refused = [key for key, value in self.streams.items() if isinstance(value, _RefusedStream)]
        for stream_id in refused:
            del self.streams[stream_id]
        if refused:
            await self.send(Updated(idle=self.idle))


def _guard(protocol: H11Protocol | H2Protocol) -> H11Protocol | H2Protocol:
    if type(protocol) is H11Protocol:
        protocol.__class__ = _GuardedH11Protocol
    elif type(protocol) is H2Protocol:
        protocol.__class__ = _GuardedH2Protocol
        # Set in H2Protocol.__init__, sent by initiate(): not advertised, it defaults to off.
        settings = protocol.connection.local_settings
        del settings[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL]
    return protocol


class _GuardedProtocolWrapper(ProtocolWrapper):
    """hypercorn's protocol switch; every protocol it switches to is guarded."""

    @property
    def protocol(self) -> H11Protocol | H2Protocol:
        protocol: H11Protocol | H2Protocol = self.__dict__["protocol"]
        return protocol

    @protocol.setter
    def protocol(self, value: H11Protocol | H2Protocol) -> None:
        self.__dict__["protocol"] = _guard(value)


class ContainedTCPServer(TCPServer):
    """hypercorn's per-connection server with trio_ws's guards and its failure kept to itself.

    Args:
      on_websocket: called in the connection's task with the stream and the head of a websocket
        request hypercorn parsed; the connection is the engine's from then on.
    """

    def __init__(
        self,
        app: AppWrapper,
        config: Config,
        context: WorkerContext,
        state: ConnectionState,
        stream: trio.abc.Stream,
        on_websocket: Callable[[trio.abc.Stream, bytes], Awaitable[None]],
    ) -> None:
        # hypercorn annotates only SSLStream, but serves plain SocketStreams the same way.
        super().__init__(app, config, context, state, stream)  # type: ignore[arg-type]
        self.on_websocket = on_websocket
        self.wrote = False

    @property
    def protocol(self) -> ProtocolWrapper:
        wrapper: ProtocolWrapper = self.__dict__["protocol"]
        return wrapper

    @protocol.setter
    def protocol(self, wrapper: ProtocolWrapper) -> None:
        # TCPServer.run made it (and, in its __init__, its first protocol): guard both.
        wrapper.__class__ = _GuardedProtocolWrapper
        wrapper.protocol = wrapper.__dict__["protocol"]
        self.__dict__["protocol"] = wrapper

    async def protocol_send(self, event: Any) -> None:
        if isinstance(event, RawData):
            self.wrote = True
        await super().protocol_send(event)

    async def _read_data(self) -> None:
        # Failures on the reading side come from parsing what the client sent: answer 400 when
        # nothing has been written yet, then let the exception end this connection.
        try:
            await super()._read_data()
        except WebsocketRequest as request:
            self.wrote = True
            await self.on_websocket(self.stream, request.head)
        except Exception:
            if not self.wrote:
                self.wrote = True
                with trio.move_on_after(_BAD_REQUEST_TIMEOUT):
                    async with self.send_lock:
                        try:
                            await self.stream.send_all(BAD_REQUEST)
                        except (trio.BrokenResourceError, trio.ClosedResourceError):
                            pass
            raise

    def abort(self) -> None:
        """Close the socket now, waking any task blocked on it (including shielded writes)."""
        stream = getattr(self.stream, "transport_stream", self.stream)
        stream.socket.close()

"""Every websocket `trio_ws.serve` accepts is the engine's, whichever way it comes in.

Entry points: the first request of a connection ("fresh"), a later request of a keep-alive
HTTP/1.1 connection, heads that ``websockets``' parser refuses but h11 accepts, HTTP/2 over
cleartext (prior knowledge) and over TLS (ALPN ``h2``). On each, what the engine promises holds
(the client's close code reaches the app, a deflate bomb is bounded, a silent peer is dropped)
or the websocket is refused; and hypercorn's ``WSStream`` is never made (the ``ws_streams``
fixture fails a test that makes one).
"""

from __future__ import annotations

import shutil
import ssl
import tracemalloc
from functools import partial
from typing import TYPE_CHECKING, Any

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
import trio
from hypercorn.protocol.ws_stream import WSStream

from trio_ws import WebSocket, WebSocketDisconnect
from trio_ws._serve import DEFAULT_SETTINGS
from trio_ws.testing import serve_app

from ._raw import (
    close_code,
    connect,
    frame,
    port_of,
    read_head,
    reset,
    tls_server,
    upgrade_request,
)
from .test_keepalive_and_limits import deflate_bomb

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from trio_ws._types import Receive, Scope, Send

ENTRIES = [pytest.param(False, id="fresh"), pytest.param(True, id="keep-alive")]
_DEFLATE_OFFER = b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
#: Heads that websockets' parser refuses and h11 accepts (main gave each a 101 from hypercorn).
ODD_HEADS = {
    "129-headers": b"".join(b"X-Extra-%d: 1\r\n" % index for index in range(129)),
    "9-KiB-header-line": b"X-Long: " + b"a" * 9 * 1024 + b"\r\n",
    "content-length": b"Content-Length: 1\r\n",
    "chunked": b"Transfer-Encoding: chunked\r\n",
}


@pytest.fixture(autouse=True)
def ws_streams(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Records every hypercorn ``WSStream`` made during the test; the test fails if any was."""
    made: list[object] = []
    original = WSStream.__init__

    def recording_init(self: WSStream, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(WSStream, "__init__", recording_init)
    yield made
    assert not made, f"{len(made)} websocket(s) reached hypercorn's WSStream"


class _Recorder:
    """An app: 200 for HTTP, an echo for websockets; records each websocket's disconnect."""

    def __init__(self) -> None:
        self.disconnects: list[dict[str, Any]] = []
        self.websockets = 0
        self.done = trio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await _answer_http(send)
            return
        if scope["type"] != "websocket":
            return
        self.websockets += 1
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] != "websocket.disconnect":
            await send({**message, "type": "websocket.send"})
        self.disconnects.append(message)
        self.done.set()


async def _answer_http(send: Send) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"hi"})


# ---------------------------------------------------------------- HTTP/1.1: fresh and keep-alive


@pytest.mark.parametrize("keep_alive", ENTRIES)
async def test_the_clients_close_code_reaches_the_app(keep_alive: bool) -> None:
    app = _Recorder()
    with trio.fail_after(10):
        async with (
            serve_app(app) as url,
            await connect(port_of(url), upgrade_request(), keep_alive=keep_alive) as client,
        ):
            assert client.head.startswith(b"HTTP/1.1 101"), client.head
            await client.stream.send_all(frame(0x1, b"echo"))
            assert (await client.next_frame()).data == b"echo"
            await client.stream.send_all(frame(0x8, (4001).to_bytes(2, "big") + b"bye"))
            frames = await client.frames_until_eof()
            await app.done.wait()
    assert close_code(frames) == 4001
    assert (app.disconnects[0]["code"], app.disconnects[0]["reason"]) == (4001, "bye")
    assert "trio_ws.closed_by" not in app.disconnects[0]  # the client's own close


@pytest.mark.parametrize("keep_alive", ENTRIES)
async def test_a_deflate_bomb_is_closed_1009_with_bounded_server_memory(keep_alive: bool) -> None:
    """256 MiB inflating from ~256 KiB, limit 1 MiB: 1009, and the peak stays under 3 MiB."""
    limit = 2**20
    payload = deflate_bomb(256 * 2**20)
    app = _Recorder()
    with trio.fail_after(30):
        async with (
            serve_app(app, max_message_size=limit) as url,
            await connect(
                port_of(url), upgrade_request(_DEFLATE_OFFER), keep_alive=keep_alive
            ) as client,
        ):
            assert b"permessage-deflate" in client.head
            tracemalloc.start()
            try:
                tracemalloc.reset_peak()
                base = tracemalloc.get_traced_memory()[0]
                await client.stream.send_all(frame(0x2, payload, rsv=0b100))
                frames = await client.frames_until_eof()
                await app.done.wait()
                peak = tracemalloc.get_traced_memory()[1] - base
            finally:
                tracemalloc.stop()
    assert close_code(frames) == 1009
    assert app.disconnects[0]["code"] == 1009
    assert peak < 3 * 2**20, f"server memory grew by {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("keep_alive", ENTRIES)
async def test_a_silent_peer_is_closed_1011_and_the_app_told(keep_alive: bool) -> None:
    app = _Recorder()
    with trio.fail_after(10):
        async with (
            serve_app(app, ping_interval=0.2, ping_timeout=0.4) as url,
            await connect(port_of(url), upgrade_request(), keep_alive=keep_alive) as client,
        ):
            await app.done.wait()  # the client never answers a ping
            frames = await client.frames_until_eof()
    assert app.disconnects[0]["code"] == 1011
    assert close_code(frames) == 1011


@pytest.mark.parametrize("keep_alive", ENTRIES)
@pytest.mark.parametrize("head", list(ODD_HEADS))
async def test_a_head_websockets_refuses_is_answered_400_or_431(
    head: str, keep_alive: bool
) -> None:
    app = _Recorder()
    with trio.fail_after(10):
        async with serve_app(app) as url:
            request = upgrade_request(ODD_HEADS[head]) + b"x"  # the body of content-length: 1
            async with await connect(port_of(url), request, keep_alive=keep_alive) as client:
                rest = await client.stream.receive_some(65536)
                while rest:  # the connection ends after the answer
                    rest = await client.stream.receive_some(65536)
    status = client.head.split(b" ", 2)[1]
    if head in ("129-headers", "9-KiB-header-line"):
        # websockets 17's parser says "too large" (431); 16's, the floor, a plain 400
        assert status in (b"431", b"400")
    else:
        assert status == b"400"
    assert app.websockets == 0


class _Ends:
    def __init__(self, expected: int) -> None:
        self.codes: list[int] = []
        self.expected = expected
        self.all_ended = trio.Event()

    def end(self, code: int) -> None:
        self.codes.append(code)
        if len(self.codes) == self.expected:
            self.all_ended.set()


async def _send_until_gone(ends: _Ends, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await _answer_http(send)
        return
    if scope["type"] != "websocket":
        return
    ws = WebSocket(scope, receive, send)
    await ws.accept()
    try:
        while True:
            await ws.send_bytes(b"x" * 2**16)
    except WebSocketDisconnect as exc:
        ends.end(exc.code)


@pytest.mark.parametrize("keep_alive", ENTRIES)
async def test_direct_handlers_whose_clients_reset_end(keep_alive: bool) -> None:
    """Ten direct-mode handlers send to clients that read a little and reset: all ten end."""
    ends = _Ends(10)

    async def visit(port: int) -> None:
        async with await connect(port, upgrade_request(), keep_alive=keep_alive) as client:
            await client.stream.receive_some(65536)
            reset(client.stream)

    with trio.fail_after(20):
        async with serve_app(partial(_send_until_gone, ends), ping_interval=None) as url:
            async with trio.open_nursery() as nursery:
                for _ in range(10):
                    nursery.start_soon(visit, port_of(url))
            await ends.all_ended.wait()
    assert ends.codes == [1006] * 10


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
@pytest.mark.parametrize("keep_alive", ENTRIES)
async def test_over_tls_the_clients_close_code_reaches_the_app_and_a_bomb_is_bounded(
    keep_alive: bool, tmp_path: Path
) -> None:
    """TLS (ALPN http/1.1), fresh and keep-alive, compression on: the close code arrives
    and a deflate bomb is closed 1009 with the server's memory bounded."""
    app = _Recorder()
    payload = deflate_bomb(64 * 2**20)
    request = upgrade_request(_DEFLATE_OFFER)
    # The config's websocket_max_message_size (16 MiB) is overridden by the keyword.
    server = tls_server(tmp_path, app, max_message_size=2**20, close_timeout=1)
    with trio.fail_after(30):
        async with server as (port, cert):
            context = ssl.create_default_context(cafile=cert)
            async with await connect(port, request, keep_alive=keep_alive, tls=context) as client:
                assert client.head.startswith(b"HTTP/1.1 101"), client.head
                await client.stream.send_all(frame(0x8, (4001).to_bytes(2, "big") + b"bye"))
                frames = await client.frames_until_eof()
            async with await connect(port, request, keep_alive=keep_alive, tls=context) as bomber:
                tracemalloc.start()
                try:
                    tracemalloc.reset_peak()
                    base = tracemalloc.get_traced_memory()[0]
                    await bomber.stream.send_all(frame(0x2, payload, rsv=0b100))
                    bomb_frames = await bomber.frames_until_eof()
                    peak = tracemalloc.get_traced_memory()[1] - base
                finally:
                    tracemalloc.stop()
    assert close_code(frames) == 4001
    assert close_code(bomb_frames) == 1009
    assert [message["code"] for message in app.disconnects] == [4001, 1009]
    assert peak < 3 * 2**20, f"server memory grew by {peak / 2**20:.1f} MiB"


# ---------------------------------------------------------------- HTTP/2


def _h2_client() -> h2.connection.H2Connection:
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    return connection


async def _h2_round(
    stream: trio.abc.Stream, scheme: bytes
) -> tuple[int, dict[int, list[h2.events.Event]]]:
    """Over one HTTP/2 connection: the server's ENABLE_CONNECT_PROTOCOL, and the events of a
    ``GET /`` (stream 1), an extended CONNECT for a websocket (3) and a plain CONNECT (5)."""
    client = _h2_client()
    await stream.send_all(client.data_to_send())
    settings: int | None = None
    while settings is None:
        data = await stream.receive_some(65536)
        assert data, "the server closed the HTTP/2 connection"
        for event in client.receive_data(data):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                settings = client.remote_settings.enable_connect_protocol
    await stream.send_all(client.data_to_send())
    authority = (b":authority", b"127.0.0.1")
    client.send_headers(
        1, [(b":method", b"GET"), (b":scheme", scheme), (b":path", b"/"), authority], True
    )
    websocket = [
        (b":method", b"CONNECT"),
        (b":protocol", b"websocket"),
        (b":scheme", scheme),
        (b":path", b"/"),
        authority,
        (b"sec-websocket-version", b"13"),
    ]
    client.send_headers(3, websocket)
    client.send_data(3, b"\x81\x84\x00\x00\x00\x00ping")  # a text frame, as if accepted
    client.send_headers(5, [(b":method", b"CONNECT"), authority, (b"sec-websocket-version", b"13")])
    await stream.send_all(client.data_to_send())
    events: dict[int, list[h2.events.Event]] = {1: [], 3: [], 5: []}
    ended: set[int] = set()
    while ended != {1, 3, 5}:
        data = await stream.receive_some(65536)
        assert data, "the server closed the HTTP/2 connection"
        for event in client.receive_data(data):
            stream_id = getattr(event, "stream_id", 0)
            if stream_id in events:
                events[stream_id].append(event)
                if isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                    ended.add(stream_id)
        await stream.send_all(client.data_to_send())
    return settings, events


def _status(events: list[h2.events.Event]) -> bytes:
    for event in events:
        if isinstance(event, h2.events.ResponseReceived):
            return dict(event.headers)[b":status"]
    raise AssertionError(f"no response among {events}")


def _check_h2(settings: int, events: dict[int, list[h2.events.Event]], app: _Recorder) -> None:
    assert settings == 0  # extended CONNECT (RFC 8441) is not offered: browsers use HTTP/1.1
    assert _status(events[1]) == b"200"  # plain HTTP over HTTP/2 is served
    assert b"".join(e.data for e in events[1] if isinstance(e, h2.events.DataReceived)) == b"hi"
    assert _status(events[3]) == b"501"
    assert _status(events[5]) == b"501"
    assert app.websockets == 0


async def test_h2c_serves_http_and_refuses_websockets() -> None:
    app = _Recorder()
    with trio.fail_after(10):
        async with serve_app(app) as url:
            stream = await trio.open_tcp_stream("127.0.0.1", port_of(url))
            async with stream:
                settings, events = await _h2_round(stream, b"http")
    _check_h2(settings, events, app)


async def test_an_h2c_upgrade_serves_http_and_refuses_websockets() -> None:
    """HTTP/1.1 ``Upgrade: h2c``: hypercorn switches protocols; the HTTP/2 side it switches to
    offers no extended CONNECT either, and a CONNECT on it gets 501."""
    app = _Recorder()
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    settings_header = client.initiate_upgrade_connection()
    request = (
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: " + settings_header + b"\r\n\r\n"
    )
    events: list[h2.events.Event] = []
    with trio.fail_after(10):
        async with serve_app(app) as url:
            stream = await trio.open_tcp_stream("127.0.0.1", port_of(url))
            async with stream:
                await stream.send_all(request)
                head, rest = await read_head(stream)
                assert head.startswith(b"HTTP/1.1 101"), head
                await stream.send_all(client.data_to_send())
                events.extend(client.receive_data(rest))
                connect = [(b":method", b"CONNECT"), (b":authority", b"127.0.0.1")]
                client.send_headers(3, [*connect, (b"sec-websocket-version", b"13")], True)
                await stream.send_all(client.data_to_send())
                ended: set[int] = set()
                while ended != {1, 3}:
                    data = await stream.receive_some(65536)
                    assert data, "the server closed the HTTP/2 connection"
                    for event in client.receive_data(data):
                        events.append(event)
                        if isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                            ended.add(event.stream_id)
                    await stream.send_all(client.data_to_send())
    assert client.remote_settings.enable_connect_protocol == 0
    assert _status([e for e in events if getattr(e, "stream_id", 0) == 1]) == b"200"
    assert _status([e for e in events if getattr(e, "stream_id", 0) == 3]) == b"501"
    assert app.websockets == 0


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
async def test_tls_h2_serves_http_and_refuses_websockets(tmp_path: Path) -> None:
    app = _Recorder()
    with trio.fail_after(20):
        async with tls_server(tmp_path, app) as (port, cert):
            context = ssl.create_default_context(cafile=cert)
            context.set_alpn_protocols(["h2", "http/1.1"])
            tcp = await trio.open_tcp_stream("127.0.0.1", port)
            async with trio.SSLStream(tcp, context, server_hostname="127.0.0.1") as stream:
                await stream.do_handshake()
                assert stream.selected_alpn_protocol() == "h2"
                settings, events = await _h2_round(stream, b"https")
    _check_h2(settings, events, app)


# ---------------------------------------------------------------- TLS handshake


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
async def test_a_tls_handshake_that_never_completes_is_dropped(tmp_path: Path) -> None:
    """A client that connects to the TLS port and sends nothing is dropped after
    ``tls_handshake_timeout`` (hypercorn's own default holds it 60 s)."""
    with trio.fail_after(10):
        async with tls_server(tmp_path, _Recorder(), tls_handshake_timeout=0.5) as (port, _):
            sock = trio.socket.socket()
            await sock.connect(("127.0.0.1", port))
            started = trio.current_time()
            with sock:
                assert await sock.recv(1) == b""  # the server closed the connection
            elapsed = trio.current_time() - started
    assert 0.4 < elapsed < 3


def test_the_tls_handshake_bound_defaults_to_ten_seconds() -> None:
    assert DEFAULT_SETTINGS["tls_handshake_timeout"] == 10.0

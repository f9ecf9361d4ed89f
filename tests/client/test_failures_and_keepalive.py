"""Requirements 4 and 5: refusals and failures are typed one-line errors; keepalive pings and
closes with 1011 when the server stops answering."""

from __future__ import annotations

import asyncio
import contextlib
import http
import socket
import ssl
import threading
from functools import partial
from typing import TYPE_CHECKING

import pytest
import trio
from websockets.utils import accept_key

import trio_ws
from trio_ws.testing import serve_app

from ._servers import SERVER_KINDS, Seen, closed, echo_server, self_signed, websockets_server

if TYPE_CHECKING:
    from pathlib import Path

    from websockets.asyncio.server import ServerConnection
    from websockets.http11 import Request, Response

    from trio_ws._types import Receive, Scope, Send


def _one_line(exc: BaseException, url: str) -> None:
    text = str(exc)
    assert "\n" not in text
    assert url in text


# ---------------------------------------------------------------------- refusals


async def test_a_denial_from_trio_ws_is_handshake_rejected_with_status_headers_body() -> None:
    @trio_ws.websocket_app
    async def app(ws: trio_ws.WebSocket) -> None:
        await ws.send_denial_response(
            trio_ws.Response(b"no token\n", 401, headers={"www-authenticate": "Bearer"})
        )

    with trio.fail_after(10):
        async with serve_app(app) as url:
            with pytest.raises(trio_ws.HandshakeRejected) as rejected:
                async with trio_ws.connect(url + "/private"):
                    pytest.fail("the block must not run")
    exc = rejected.value
    assert exc.status_code == 401
    assert (b"www-authenticate", b"Bearer") in exc.headers
    assert exc.body == b"no token\n"
    assert isinstance(exc, OSError)
    _one_line(exc, url + "/private")


async def test_a_refusal_from_websockets_is_handshake_rejected() -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(http.HTTPStatus.FORBIDDEN, "go away\n")

    async def never(ws: ServerConnection) -> None:
        raise AssertionError("not reached")

    with (
        trio.fail_after(10),
        websockets_server(never, process_request=refuse) as url,
        pytest.raises(trio_ws.HandshakeRejected) as rejected,
    ):
        async with trio_ws.connect(url):
            pass
    assert rejected.value.status_code == 403
    assert rejected.value.body == b"go away\n"
    assert (b"content-type", b"text/plain; charset=utf-8") in rejected.value.headers


async def test_a_trio_ws_close_before_accept_is_403() -> None:
    @trio_ws.websocket_app
    async def app(ws: trio_ws.WebSocket) -> None:
        await ws.close()

    with trio.fail_after(10):
        async with serve_app(app) as url:
            with pytest.raises(trio_ws.HandshakeRejected) as rejected:
                async with trio_ws.connect(url):
                    pass
    assert rejected.value.status_code == 403


# ---------------------------------------------------------------------- network failures


async def test_dns_failure() -> None:
    url = "ws://no-such-host.invalid/feed"
    with trio.fail_after(30), pytest.raises(trio_ws.DNSError) as failed:
        async with trio_ws.connect(url):
            pass
    assert "no-such-host.invalid" in str(failed.value)
    _one_line(failed.value, url)


async def test_tcp_failure() -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/"
    with trio.fail_after(10), pytest.raises(trio_ws.TCPConnectError) as failed:
        async with trio_ws.connect(url):
            pass
    assert f"127.0.0.1:{port}" in str(failed.value)
    _one_line(failed.value, url)


async def test_open_timeout() -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/"
    with trio.fail_after(10):
        async with listener:
            # Connections queue in the backlog and are never answered.
            with pytest.raises(trio_ws.OpenTimeout) as failed:
                async with trio_ws.connect(url, open_timeout=0.2):
                    pass
    assert isinstance(failed.value, TimeoutError)
    assert "0.2" in str(failed.value)
    _one_line(failed.value, url)


async def test_an_invalid_upgrade_response_is_handshake_failed() -> None:
    async def bogus(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        await stream.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: wrong\r\n\r\n"
        )
        await stream.aclose()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, bogus, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            url = f"ws://127.0.0.1:{port}/"
            with pytest.raises(trio_ws.HandshakeFailed) as failed:
                async with trio_ws.connect(url):
                    pass
            nursery.cancel_scope.cancel()
    assert "Sec-WebSocket-Accept" in str(failed.value)
    _one_line(failed.value, url)


async def test_tls_failures_and_success(tmp_path: Path) -> None:
    pair = self_signed(tmp_path)
    if pair is None:
        pytest.skip("needs openssl")
    cert, key = pair
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    seen = Seen()

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)
        seen.put(("closed", ws.close_code, ws.close_reason))

    with trio.fail_after(20), websockets_server(echo, ssl_context=server_context) as url:
        with pytest.raises(trio_ws.TLSError) as untrusted:
            async with trio_ws.connect(url):
                pass
        assert "certificate" in str(untrusted.value).lower()
        _one_line(untrusted.value, url)
        trusted = ssl.create_default_context(cafile=cert)
        async with trio_ws.connect(url + "/tls", ssl_context=trusted) as ws:
            await ws.send_text("over tls")
            assert await ws.receive_text() == "over tls"
        assert await closed(seen) == (1000, "")
    with websockets_server(echo) as plain_url:
        tls_url = plain_url.replace("ws://", "wss://")
        with trio.fail_after(10), pytest.raises(trio_ws.TLSError) as not_tls:
            async with trio_ws.connect(tls_url, ssl_context=trusted):
                pass
        _one_line(not_tls.value, tls_url)


async def test_bad_urls_and_options_fail_at_the_call() -> None:
    with pytest.raises(ValueError, match="ws:// or wss://"):
        trio_ws.connect("http://example.com/")
    with pytest.raises(ValueError, match="wss://"):
        trio_ws.connect("ws://example.com/", ssl_context=ssl.create_default_context())
    with pytest.raises(ValueError, match="compression"):
        trio_ws.connect("ws://example.com/", compression="gzip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ping_timeout"):
        trio_ws.connect("ws://example.com/", ping_timeout=0)
    with pytest.raises(ValueError, match="handshake"):
        trio_ws.connect("ws://example.com/", headers={"Sec-WebSocket-Key": "x"})
    with pytest.raises(ValueError, match="CR, LF"):
        trio_ws.connect("ws://example.com/", headers=[("X-A", "b\r\nEvil: 1")])
    await trio.lowlevel.checkpoint()


# ---------------------------------------------------------------------- keepalive


@pytest.mark.parametrize("kind", SERVER_KINDS)
async def test_keepalive_pings_a_live_server_and_measures_latency(kind: str) -> None:
    with trio.fail_after(10):
        async with echo_server(kind) as (url, seen):
            async with trio_ws.connect(url, ping_interval=0.05, ping_timeout=0.5) as ws:
                before = ws.latency
                await trio.sleep(0.4)  # the time under test: eight ping intervals, idle
                assert before is None
                assert ws.latency is not None
                await ws.send_text("still open")
                assert await ws.receive_text() == "still open"
            assert await closed(seen) == (1000, "")


@pytest.mark.parametrize("kind", SERVER_KINDS)
async def test_no_pong_in_time_closes_1011_and_receive_raises(kind: str) -> None:
    release = threading.Event()

    async def deaf(ws: ServerConnection) -> None:
        ws.transport.pause_reading()  # no pongs from now on
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 10)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # Raw ASGI that never calls receive: the engine reads nothing, answers no ping.
        await receive()
        await send({"type": "websocket.accept"})
        await trio.to_thread.run_sync(release.wait, 10)

    with trio.fail_after(10):
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(release.set)
            if kind == "websockets":
                url = stack.enter_context(websockets_server(deaf))
            else:
                url = await stack.enter_async_context(serve_app(app))
            async with trio_ws.connect(url, ping_interval=0.05, ping_timeout=0.2) as ws:
                with pytest.raises(trio_ws.WebSocketDisconnect) as ended:
                    await ws.receive_text()
            release.set()
    assert (ended.value.code, ended.value.reason) == (1011, "keepalive ping timeout")
    assert ws.close_code == 1011
    assert ws.closed_by is trio_ws.ClientClosedBy.CLIENT


# ------------------------------------------------------------ a server that breaks the protocol


async def test_a_protocol_error_right_after_the_101_fails_at_once_and_drops_tcp() -> None:
    """A frame with RSV1 set (no extension negotiated) in the same write as the 101: the client
    fails the connection with 1002 and, as the endpoint that failed it, closes TCP itself
    without waiting ``close_timeout`` for the server (found by Autobahn's case 3.1)."""
    received = bytearray()
    server_done = trio.Event()

    async def breaks_protocol(stream: trio.SocketStream) -> None:
        request = await stream.receive_some(65536)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        await stream.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key.decode()).encode() + b"\r\n\r\n"
            b"\xc1\x02hi"  # FIN + RSV1 + text, unmasked, 2 bytes
        )
        while chunk := await stream.receive_some(65536):
            received.extend(chunk)  # until the client closes TCP
        server_done.set()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                partial(trio.serve_tcp, breaks_protocol, 0, host="127.0.0.1")
            )
            port = listeners[0].socket.getsockname()[1]
            async with trio_ws.connect(f"ws://127.0.0.1:{port}/", close_timeout=30) as ws:
                with pytest.raises(trio_ws.WebSocketDisconnect) as failed:
                    await ws.receive_message()
            await server_done.wait()  # well before close_timeout
            nursery.cancel_scope.cancel()
    assert failed.value.code == 1002
    assert received[0] == 0x88  # the client's close frame, then EOF


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_a_message_over_max_message_size_closes_1009(compression: str | None) -> None:
    seen = Seen()

    async def big(ws: ServerConnection) -> None:
        await ws.send("x" * 2048)
        await ws.wait_closed()
        seen.put(("closed", ws.close_code, ws.close_reason))

    with trio.fail_after(10), websockets_server(big) as url:
        async with trio_ws.connect(url, max_message_size=1024, compression=compression) as ws:  # type: ignore[arg-type]
            with pytest.raises(trio_ws.WebSocketDisconnect) as too_big:
                await ws.receive_message()
        assert (await closed(seen))[0] == 1009
    assert too_big.value.code == 1009

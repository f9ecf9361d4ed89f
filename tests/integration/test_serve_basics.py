"""trio_ws.serve end to end: echo, sizes, subprotocols, denial, closes and crashes."""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

import trio_ws._serve as serve_module
from trio_ws.testing import serve_app

from ._support import (
    CLIENT,
    echo,
    frame_header,
    parse_close,
    port_of,
    read_http_head,
    send_raw,
    upgrade_request,
)

if TYPE_CHECKING:
    from trio_ws._types import Receive, Scope, Send

pytestmark = pytest.mark.hypercorn


async def test_echoes_text_bytes_and_json() -> None:
    """Text and bytes come back unchanged; JSON text round-trips."""
    with trio.fail_after(10):
        async with serve_app(echo) as url, open_websocket_url(url + "/p", **CLIENT) as ws:
            await ws.send_message("hello")
            assert await ws.get_message() == "hello"
            await ws.send_message(b"\x00\xffbytes")
            assert await ws.get_message() == b"\x00\xffbytes"
            await ws.send_message("json")
            assert json.loads(await ws.get_message()) == {"scope_path": "/p"}


async def test_large_messages_under_the_limit_pass() -> None:
    """A 4 MiB message passes when max_message_size allows it, as text and as bytes."""
    payload = b"\x01" * (4 * 2**20)
    with trio.fail_after(20):
        async with (
            serve_app(echo, max_message_size=5 * 2**20) as url,
            open_websocket_url(url, max_message_size=8 * 2**20, **CLIENT) as ws,
        ):
            await ws.send_message(payload)
            assert await ws.get_message() == payload
            await ws.send_message("é" * 2**20)  # 2 MiB of UTF-8
            assert await ws.get_message() == "é" * 2**20


@pytest.mark.parametrize(
    "payload",
    [b"x" * 1001, "é".encode() * 501],  # 501 characters but 1002 UTF-8 bytes
    ids=["ascii", "utf8-counted-in-bytes"],
)
async def test_oversize_message_gets_1009_and_the_app_sees_1009(payload: bytes) -> None:
    """A message over the limit closes with 1009; the app's disconnect says 1009, not 1006."""
    seen: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] != "websocket.disconnect":
            pass
        seen.append(message["code"])

    # A raw client: trio-websocket 0.12.2 leaks its socket when the server closes with 1009.
    with trio.fail_after(10):
        async with serve_app(app, max_message_size=1000) as url:
            stream = await trio.open_tcp_stream("127.0.0.1", port_of(url))
            async with stream:
                await stream.send_all(upgrade_request())
                head, rest = await read_http_head(stream)
                assert head.startswith(b"HTTP/1.1 101")
                await stream.send_all(frame_header(0x1, len(payload)) + payload)
                while len(rest) < 4:
                    rest += await stream.receive_some(100)
                assert parse_close(rest) == 1009
                await stream.send_all(frame_header(0x8, 2) + (1000).to_bytes(2, "big"))
    assert seen == [1009]


async def test_subprotocol_negotiation() -> None:
    """The subprotocol the app accepts (one the client offered) reaches the client."""
    with trio.fail_after(10):
        async with (
            serve_app(echo) as url,
            open_websocket_url(url + "/sub", subprotocols=["one", "two"], **CLIENT) as ws,
        ):
            assert ws.subprotocol == "two"


async def test_denial_response_status_headers_and_body() -> None:
    """A websocket.http.response denial reaches the client whole."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"x-why", b"auth")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"go ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"away"})

    with trio.fail_after(10):
        async with serve_app(app) as url:
            with pytest.raises(ConnectionRejected) as rejected:
                async with open_websocket_url(url, **CLIENT):
                    pass
    assert rejected.value.status_code == 401
    assert (b"x-why", b"auth") in rejected.value.headers
    assert rejected.value.body == b"go away"


async def test_close_before_accept_is_403() -> None:
    """websocket.close before accept answers HTTP 403, whatever the code."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 4000})

    with trio.fail_after(10):
        async with serve_app(app) as url:
            with pytest.raises(ConnectionRejected) as rejected:
                async with open_websocket_url(url, **CLIENT):
                    pass
    assert rejected.value.status_code == 403


async def test_app_close_code_and_reason_reach_the_client() -> None:
    """The app's close code and reason are what the client sees."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 4001, "reason": "bye now"})

    with trio.fail_after(10):
        async with serve_app(app) as url, open_websocket_url(url, **CLIENT) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
    assert (closed.value.reason.code, closed.value.reason.reason) == (4001, "bye now")


class Boom(Exception):
    pass


async def test_crash_after_accept_is_1011_without_the_exception_text() -> None:
    """An app crash after accept closes with 1011 and leaks nothing; serve_app re-raises it."""
    secret = "s3cret-detail"

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await receive()
            raise Boom(secret)

    closes: list[ConnectionClosed] = []

    async def scenario() -> None:
        async with serve_app(app) as url, open_websocket_url(url, **CLIENT) as ws:
            await ws.send_message("go")
            try:
                await ws.get_message()
            except ConnectionClosed as closed:
                closes.append(closed)

    with trio.fail_after(10), pytest.raises(Boom, match=secret):
        await scenario()
    assert closes[0].reason.code == 1011
    assert secret not in (closes[0].reason.reason or "")


async def test_crash_before_accept_is_500_without_the_exception_text() -> None:
    """An app crash before accept answers HTTP 500 with an empty body."""
    secret = "s3cret-detail"

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            raise Boom(secret)

    rejections: list[ConnectionRejected] = []

    async def scenario() -> None:
        async with serve_app(app) as url:
            try:
                async with open_websocket_url(url, **CLIENT):
                    pass
            except ConnectionRejected as rejected:
                rejections.append(rejected)

    with trio.fail_after(10), pytest.raises(Boom):
        await scenario()
    assert rejections[0].status_code == 500
    assert secret.encode() not in (rejections[0].body or b"")


async def test_client_close_code_reaches_the_app() -> None:
    """The client's close code and reason reach the app's websocket.disconnect."""
    got: list[tuple[object, object]] = []
    done = trio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            message = await receive()
            got.append((message.get("code"), message.get("reason")))
            done.set()

    with trio.fail_after(10):
        async with serve_app(app) as url:
            async with open_websocket_url(url, **CLIENT) as ws:
                await ws.aclose(4001, "client-bye")
            await done.wait()
    assert got == [(4001, "client-bye")]


async def test_lifespan_is_answered_for_apps_that_return() -> None:
    """An app that returns from the lifespan scope does not crash the server (hypercorn does)."""
    with trio.fail_after(10):
        async with serve_app(echo) as url, open_websocket_url(url, **CLIENT) as ws:
            await ws.send_message("up")
            assert await ws.get_message() == "up"


async def test_lifespan_of_apps_that_implement_it_runs_both_phases() -> None:
    """A lifespan-aware app sees startup before serving and shutdown after; its state is shared."""
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    scope["state"]["greeting"] = "hi"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": scope["state"]["greeting"]})
        await send({"type": "websocket.close"})

    with trio.fail_after(10):
        async with serve_app(app) as url, open_websocket_url(url, **CLIENT) as ws:
            assert await ws.get_message() == "hi"
    assert events == ["lifespan.startup", "lifespan.shutdown"]


async def test_serve_reports_urls_and_port_zero_binds_a_free_port() -> None:
    """task_status receives ws:// URLs with the real port."""
    stop = trio.Event()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(
                partial(serve_module.serve, echo, "127.0.0.1", 0, shutdown_trigger=stop.wait)
            )
            assert len(urls) == 1
            assert urls[0].startswith("ws://127.0.0.1:")
            assert not urls[0].endswith(":0")
            stop.set()


async def test_settings_merge_explicit_over_config_over_defaults() -> None:
    """Passed settings win; without them a given Config keeps its values, else trio_ws defaults."""
    hypercorn_config = serve_module.hypercorn_config(websocket_max_message_size=123, read_timeout=7)
    merged = serve_module.build_config("::1", 0, hypercorn_config, {"read_timeout": None})
    assert merged.websocket_max_message_size == 123
    assert merged.read_timeout is None
    assert merged.bind == ["[::1]:0"]
    assert hypercorn_config.bind != merged.bind  # the given config is not modified
    defaults = serve_module.build_config("127.0.0.1", 80, None, {})
    assert defaults.websocket_max_message_size == 2**20
    assert defaults.websocket_ping_interval == 20.0
    assert defaults.read_timeout == 60.0
    assert defaults.graceful_timeout == 5.0
    with pytest.raises(TypeError):
        serve_module.build_config("127.0.0.1", 80, None, {"nope": 1})  # type: ignore[typeddict-unknown-key]


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"close_timeout": 0}, "close_timeout must be positive"),
        ({"tls_handshake_timeout": -1}, "tls_handshake_timeout must be positive"),
        ({"ping_timeout": 0}, "ping_timeout must be positive"),
        ({"compression": "zstd"}, "compression must be"),
    ],
)
def test_engine_settings_are_checked(settings: Any, error: str) -> None:
    config = serve_module.build_config("127.0.0.1", 80, None, settings)
    with pytest.raises(ValueError, match=error):
        serve_module.build_engine_settings(config, settings)


def test_the_retired_websocket_engine_setting_says_what_to_do() -> None:
    with pytest.raises(TypeError, match="hypercorn --worker-class trio"):
        serve_module.build_config("127.0.0.1", 80, None, {"websocket_engine": "hypercorn"})  # type: ignore[typeddict-unknown-key]


def test_engine_settings_default_close_and_tls_handshake_timeouts() -> None:
    config = serve_module.build_config("127.0.0.1", 80, None, {})
    assert config.ssl_handshake_timeout == 10.0
    assert serve_module.build_engine_settings(config, {}).close_timeout == 5.0
    given = serve_module.build_config("127.0.0.1", 80, serve_module.Config(), {})
    assert given.ssl_handshake_timeout == 10.0  # also with a config (hypercorn's is 60 s)


async def test_serve_rejects_other_shutdown_codes() -> None:
    """Only 1001 and 1012 are shutdown close codes."""
    with trio.fail_after(5), pytest.raises(ValueError, match="1001 or 1012"):
        await serve_module.serve(echo, port=0, shutdown_close_code=1000)


async def test_pings_start_one_interval_after_accept() -> None:
    """The first ping comes an interval after the 101, then one per interval."""
    with trio.fail_after(10):
        async with serve_app(echo, ping_interval=0.3) as url:
            stream = await trio.open_tcp_stream("127.0.0.1", port_of(url))
            async with stream:
                await stream.send_all(upgrade_request())
                head, rest = await read_http_head(stream)
                accepted = trio.current_time()
                assert head.startswith(b"HTTP/1.1 101")
                assert rest == b""
                arrivals = []
                for _ in range(2):
                    frame = await stream.receive_some(100)
                    assert frame[0] == 0x89  # an unfragmented ping
                    arrivals.append(trio.current_time() - accepted)
                await stream.send_all(frame_header(0x8, 2) + (1000).to_bytes(2, "big"))
    assert 0.25 < arrivals[0] < 0.6
    assert 0.55 < arrivals[1] < 0.9


async def test_http_requests_pass_through_and_raising_on_lifespan_still_works() -> None:
    """Plain HTTP reaches the app untouched; an app that raises on lifespan opts out of it."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan here")  # hypercorn: continue without lifespan
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"plain http"})
            return
        await echo(scope, receive, send)

    with trio.fail_after(10):
        async with serve_app(app) as url:
            answer = await send_raw(
                port_of(url), b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
    assert answer.startswith(b"HTTP/1.1 200")
    assert b"plain http" in answer  # chunked: no content-length was given

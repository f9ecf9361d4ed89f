"""The server's observation events and the access log, over real sockets.

Each test serves a trio_ws application with ``trio_ws.serve(..., observer=...)`` on
127.0.0.1:0 and drives it with a real client (trio-websocket, websockets' Trio client, or raw
bytes); the events are awaited on a channel, never slept for.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio_websocket

import trio_ws
from trio_ws import PlainTextResponse, WebSocket, websocket_app
from trio_ws.observe import (
    AccessLog,
    ConnectionEnd,
    HandshakeRefused,
    ObserverGroup,
    ServerObserver,
)

from ._support import Recorder, served

# websockets' Trio client came with websockets 17; tests-minimum runs websockets 16.
websockets_connect = pytest.importorskip(
    "websockets.trio.client", reason="needs websockets' Trio client (websockets 17+)"
).connect

if TYPE_CHECKING:
    from trio_ws.observe import ObservedConnection


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    async for text in ws.iter_text():
        if text == "close please":
            await ws.close(4000, "as asked")
            return
        await ws.send_text(text)


async def test_an_accepted_websocket_is_reported_with_its_end_counts_and_closer() -> None:
    recorder = Recorder()
    with trio.fail_after(10):
        async with served(websocket_app(echo), recorder) as url:
            async with trio_websocket.open_websocket_url(url + "/room?token=secret") as client:
                for word in ("a", "b", "c"):
                    await client.send_message(word)
                    assert await client.get_message() == word
                local = client.local
                await client.aclose(1000, "bye")
            connection = await recorder.next("accepted")
            end: ConnectionEnd = await recorder.next("ended")
    assert (end.code, end.reason, end.closed_by) == (1000, "bye", "client")
    assert (end.messages_received, end.messages_sent) == (3, 3)
    assert end.path == "/room"
    assert end.client == f"{local.address}:{local.port}"
    assert end.duration > 0
    assert (connection.messages_received, connection.messages_sent) == (3, 3)


async def test_a_server_close_is_reported_with_its_code_reason_and_side() -> None:
    recorder = Recorder()
    with trio.fail_after(10):
        async with served(websocket_app(echo), recorder) as url:
            async with trio_websocket.open_websocket_url(url) as client:
                await client.send_message("close please")
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    await client.get_message()
            end: ConnectionEnd = await recorder.next("ended")
    assert closed.value.reason.code == 4000
    assert (end.code, end.reason, end.closed_by) == (4000, "as asked", "server")
    assert (end.messages_received, end.messages_sent) == (1, 0)


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_messages_are_counted_whole_not_by_frame(compression: str | None) -> None:
    recorder = Recorder()
    with trio.fail_after(10):
        async with served(websocket_app(echo), recorder, compression=compression) as url:
            async with websockets_connect(url) as client:
                await client.send(["one ", "message ", "in ", "four frames"])
                assert await client.recv() == "one message in four frames"
            end: ConnectionEnd = await recorder.next("ended")
    assert (end.messages_received, end.messages_sent) == (1, 1)


async def _deny(ws: WebSocket) -> Any:
    return PlainTextResponse("who are you?", status_code=401)


async def _close_before_accept(ws: WebSocket) -> None:
    await ws.close()


async def _fail_before_accept(ws: WebSocket) -> None:
    raise ValueError("the handler's own bug")


async def _deny_in_handler(ws: WebSocket) -> None:
    await ws.send_denial_response(PlainTextResponse("slow down", status_code=429))


async def _never_answer(ws: WebSocket) -> None:
    await trio.sleep_forever()


REFUSALS = {
    "origin": (
        websocket_app(echo, allowed_origins=["https://ok.example"]),
        [("Origin", "https://evil.example")],
        403,
        r"^Origin not allowed \(Origin: https://evil.example\)$",
    ),
    "authenticate": (
        websocket_app(echo, authenticate=_deny),
        [],
        401,
        r"^authenticate refused \(status 401\)$",
    ),
    "subprotocol": (
        websocket_app(echo, subprotocols=["chat.v2"]),
        [("Sec-WebSocket-Protocol", "chat.v1")],
        403,
        r"this endpoint speaks: chat.v2\); offered: chat.v1$",
    ),
    "limits": (
        websocket_app(_never_answer, accept_timeout=0.05),
        [],
        403,
        r"^accept_timeout: no answer to the handshake within 0.05 s$",
    ),
    "application-close": (
        websocket_app(_close_before_accept),
        [],
        403,
        r"^the handler closed before accepting$",
    ),
    "application-failure": (
        websocket_app(_fail_before_accept),
        [],
        403,
        r"^the handler failed before accepting: ValueError\(\"the handler's own bug\"\)$",
    ),
    "application-denial": (
        websocket_app(_deny_in_handler),
        [],
        429,
        r"^the handler sent a denial response$",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_a_refused_handshake_is_reported_with_its_status_and_which_check_refused(
    case: str,
) -> None:
    app, headers, status, reason = REFUSALS[case]
    recorder = Recorder()
    with trio.fail_after(10):
        async with served(app, recorder) as url:
            with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
                async with trio_websocket.open_websocket_url(
                    url + "/guarded", extra_headers=headers
                ):
                    pass
            refusal: HandshakeRefused = await recorder.next("refused")
    assert rejected.value.status_code == status
    assert refusal.status == status
    assert refusal.guard == case.split("-")[0]
    assert re.search(reason, refusal.reason), refusal.reason
    assert refusal.path == "/guarded"
    assert [kind for kind, _ in recorder.pending()] == []  # no "accepted", no "ended"


async def test_a_malformed_handshake_refused_by_the_engine_is_reported() -> None:
    recorder = Recorder()
    with trio.fail_after(10):
        async with served(websocket_app(echo), recorder) as url:
            host, port = url.removeprefix("ws://").split(":")
            stream = await trio.open_tcp_stream(host, int(port))
            async with stream:
                await stream.send_all(
                    b"GET /bad HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: not-base64-of-16\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n"
                )
                answer = await stream.receive_some()
            refusal: HandshakeRefused = await recorder.next("refused")
    assert answer.startswith(b"HTTP/1.1 400")
    assert (refusal.status, refusal.guard, refusal.path) == (400, "handshake", "/bad")
    assert "Sec-WebSocket-Key" in refusal.reason


async def test_keepalive_round_trips_are_reported() -> None:
    recorder = Recorder()
    with trio.fail_after(10):
        async with (
            served(websocket_app(echo), recorder, ping_interval=0.05) as url,
            trio_websocket.open_websocket_url(url) as client,
        ):
            seconds = await recorder.next("round_trip")
            await client.send_message("still here")
            assert await client.get_message() == "still here"
    assert 0 < seconds < 5


class _Broken(ServerObserver):
    def connection_accepted(self, connection: ObservedConnection) -> None:
        raise RuntimeError("observer bug")

    def connection_ended(self, connection: ObservedConnection, end: ConnectionEnd) -> None:
        raise RuntimeError("observer bug")


async def test_an_observer_that_raises_is_logged_and_the_connection_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder()
    with trio.fail_after(10):
        async with served(websocket_app(echo), ObserverGroup((_Broken(), recorder))) as url:
            for _ in range(2):  # the server still serves after the observer failed
                async with trio_websocket.open_websocket_url(url) as client:
                    await client.send_message("x")
                    assert await client.get_message() == "x"
                end: ConnectionEnd = await recorder.next("ended")  # the others still hear
                assert end.messages_received == 1
    failures = [r for r in caplog.records if "the server observer failed" in r.getMessage()]
    assert [r.getMessage().rsplit(" in ", 1)[1] for r in failures] == 2 * [
        "connection_accepted; the server carries on",
        "connection_ended; the server carries on",
    ]


async def test_the_access_log_has_one_line_per_websocket_and_per_refusal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="trio_ws.access")
    recorder = Recorder()
    app = websocket_app(echo, allowed_origins=["https://ok.example", None])
    with trio.fail_after(10):
        async with served(app, ObserverGroup((AccessLog(), recorder))) as url:
            async with trio_websocket.open_websocket_url(url + "/chat?token=secret") as client:
                await client.send_message("hello")
                await client.get_message()
                local = client.local
                await client.aclose(1000, 'see "you"')
            await recorder.next("ended")
            with pytest.raises(trio_websocket.ConnectionRejected):
                async with trio_websocket.open_websocket_url(
                    url + "/chat", extra_headers=[("Origin", "https://evil.example")]
                ):
                    pass
            await recorder.next("refused")
    lines = [r.getMessage() for r in caplog.records if r.name == "trio_ws.access"]
    assert len(lines) == 2, lines
    accepted, refused = lines
    assert re.fullmatch(
        rf'{local.address}:{local.port} "WS /chat" 101 \d+\.\d{{3}}s close 1000 '
        r'"see \\"you\\"" by client, 1 in 1 out',
        accepted,
    ), accepted
    assert "secret" not in accepted
    assert re.fullmatch(
        r'127\.0\.0\.1:\d+ "WS /chat" 403 \d+\.\d{3}s refused by origin: Origin not allowed '
        r"\(Origin: https://evil.example\)",
        refused,
    ), refused


async def _accept_unoffered_subprotocol(scope: Any, receive: Any, send: Any) -> None:
    """A plain ASGI app that accepts with a subprotocol the client did not offer."""
    await receive()  # websocket.connect
    with pytest.raises(trio_ws.LocalProtocolError):
        await send({"type": "websocket.accept", "subprotocol": "chat.v2"})


async def _accept_with_unsendable_headers(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    with pytest.raises(trio_ws.LocalProtocolError):
        await send({"type": "websocket.accept", "headers": [(b"x-bad", b"line\r\nbreak")]})


ENGINE_REFUSALS = {
    "unoffered-subprotocol": (
        _accept_unoffered_subprotocol,
        400,
        r"refused by handshake: cannot accept subprotocol 'chat\.v2', which the client did "
        r"not offer \(offered: \['chat\.v1'\]\)",
    ),
    "unsendable-headers": (
        _accept_with_unsendable_headers,
        500,
        r"refused by handshake: accept headers cannot be set as given: .+",
    ),
}


@pytest.mark.parametrize("case", list(ENGINE_REFUSALS))
async def test_an_accept_the_engine_refuses_is_logged_with_the_rule_it_broke(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Not "application: the handler sent a denial response": the handler accepted, and the
    engine refused the accept; the line names the protocol rule."""
    caplog.set_level(logging.INFO, logger="trio_ws.access")
    app, status, line = ENGINE_REFUSALS[case]
    recorder = Recorder()
    with trio.fail_after(10):
        async with served(app, ObserverGroup((AccessLog(), recorder))) as url:
            with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
                async with trio_websocket.open_websocket_url(
                    url + "/chat", subprotocols=["chat.v1"]
                ):
                    pass
            refusal: HandshakeRefused = await recorder.next("refused")
    assert rejected.value.status_code == status
    assert (refusal.status, refusal.guard) == (status, "handshake")
    assert "denial" not in refusal.reason
    lines = [r.getMessage() for r in caplog.records if r.name == "trio_ws.access"]
    assert len(lines) == 1, lines
    assert re.fullmatch(rf'127\.0\.0\.1:\d+ "WS /chat" {status} \d+\.\d{{3}}s {line}', lines[0])


async def test_asyncio_code_in_a_handler_gets_an_explanation() -> None:
    async def uses_asyncio(ws: WebSocket) -> None:
        await ws.accept()
        asyncio.get_running_loop()

    raised: list[BaseException] = []
    inner = websocket_app(uses_asyncio)

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        try:
            await inner(scope, receive, send)
        except BaseException as error:
            raised.append(error)
            raise

    recorder = Recorder()
    with trio.fail_after(10):
        async with served(recording, recorder) as url:
            async with trio_websocket.open_websocket_url(url) as client:
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    await client.get_message()
            await recorder.next("ended")
    assert closed.value.reason.code == 1011
    [error] = [error for error in raised if isinstance(error, RuntimeError)]
    assert "no running event loop" in str(error)
    assert any("runs on Trio" in note for note in error.__notes__)


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_broadcast_deliveries_are_counted_as_messages_sent(compression: str | None) -> None:
    """Without compression, `Broadcast.forward` writes frames straight to the socket (the
    fan-out's direct path): those messages are counted like any other send."""
    recorder = Recorder()
    async with trio_ws.Broadcast("memory://") as broadcast:

        async def feed(ws: WebSocket) -> None:
            await ws.accept()
            await broadcast.forward("room", ws)

        with trio.fail_after(10):
            async with served(websocket_app(feed), recorder, compression=compression) as url:
                offer = "deflate" if compression else None
                async with websockets_connect(url, compression=offer) as client:
                    received = 0
                    while True:  # until the socket's subscription is live
                        await broadcast.publish("room", "probe")
                        with trio.move_on_after(0.05):
                            await client.recv()
                            received += 1
                            break
                    for n in range(20):
                        await broadcast.publish("room", f"message {n}")
                    for _ in range(20):
                        await client.recv()
                        received += 1
                end: ConnectionEnd = await recorder.next("ended")
    assert end.messages_sent == received == 21

"""Per-connection limits and timeouts, each with its close code.

In memory the timeouts run on trio's autojump clock (no real waiting). Each limit is tested
both where the handler itself reads (the limit is raised in the handler's receive) and where
only the receive pump reads (a handler that only sends), and over real sockets.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket

from trio_ws import RateLimit, WebSocket, websocket_app
from trio_ws.testing import ConnectionClosed, ConnectionRejected, connect

from ._servers import CLIENT, SERVERS, served


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    async for message in ws.iter_text():
        await ws.send_text(message)


async def echo_bytes(ws: WebSocket) -> None:
    await ws.accept()
    async for message in ws.iter_bytes():
        await ws.send_bytes(message)


async def sender_only(ws: WebSocket) -> None:
    """Never receives: only the receive pump reads from the server."""
    await ws.accept()
    await ws.send_text("ready")
    await ws.wait_disconnected()


async def closed_code(client: Any) -> tuple[int, str]:
    """Drain the client until the app's close; return (code, reason)."""
    while True:
        try:
            await client.receive()
        except ConnectionClosed as closed:
            return closed.code, closed.reason


# ----------------------------------------------------------------- max_message_size


async def test_message_over_max_message_size_closes_with_1009() -> None:
    app = websocket_app(echo, max_message_size=10)
    with trio.fail_after(5):
        async with connect(app) as client:
            await client.send_text("x" * 10)  # at the limit: fine
            assert await client.receive_text() == "x" * 10
            await client.send_text("x" * 11)
            assert await closed_code(client) == (1009, "message larger than 10 bytes")


async def test_text_is_measured_in_utf8_bytes() -> None:
    app = websocket_app(echo, max_message_size=10)
    with trio.fail_after(5):
        async with connect(app) as client:
            await client.send_text("é" * 5)  # 10 bytes
            assert await client.receive_text() == "é" * 5
            await client.send_text("é" * 6)  # 6 characters, 12 bytes
            assert (await closed_code(client))[0] == 1009


async def test_binary_message_over_max_message_size_closes_with_1009() -> None:
    app = websocket_app(echo_bytes, max_message_size=4)
    with trio.fail_after(5):
        async with connect(app) as client:
            await client.send_bytes(b"1234")
            assert await client.receive_bytes() == b"1234"
            await client.send_bytes(b"12345")
            assert (await closed_code(client))[0] == 1009


async def test_max_message_size_applies_while_only_the_pump_reads() -> None:
    app = websocket_app(sender_only, max_message_size=4)
    with trio.fail_after(5):
        async with connect(app, raise_app_exceptions=False) as client:
            assert await client.receive_text() == "ready"
            await client.send_text("too long")
            assert (await closed_code(client))[0] == 1009


# ----------------------------------------------------------------- rate_limit


async def test_rate_limit_closes_with_1008_beyond_the_burst(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = websocket_app(echo, rate_limit=RateLimit(rate=1.0, burst=3))
    with trio.fail_after(30):
        async with connect(app) as client:
            for i in range(3):
                await client.send_text(str(i))
                assert await client.receive_text() == str(i)
            await client.send_text("one too many")
            assert await closed_code(client) == (1008, "rate limit exceeded")


async def test_rate_limit_refills_at_its_rate(autojump_clock: trio.testing.MockClock) -> None:
    app = websocket_app(echo, rate_limit=RateLimit(rate=2.0, burst=1))
    with trio.fail_after(30):
        async with connect(app) as client:
            for i in range(5):  # one message every 0.5 s is exactly the rate
                await client.send_text(str(i))
                assert await client.receive_text() == str(i)
                await trio.sleep(0.5)
            await client.send_text("a")
            assert await client.receive_text() == "a"
            await client.send_text("b")  # 0 s after "a": over
            assert (await closed_code(client))[0] == 1008


async def test_rate_limit_drop_discards_the_excess_and_keeps_the_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = websocket_app(echo, rate_limit=RateLimit(1.0, 2, on_exceed="drop"))
    with trio.fail_after(30):
        async with connect(app) as client:
            for i in range(5):
                await client.send_text(str(i))
            await trio.sleep(1.0)  # one token back
            await client.send_text("later")
            received = [await client.receive_text() for _ in range(3)]
            assert received == ["0", "1", "later"]
            assert client.close_code is None


async def test_rate_limit_applies_while_only_the_pump_reads(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = websocket_app(sender_only, rate_limit=RateLimit(1.0, 1))
    with trio.fail_after(30):
        async with connect(app, raise_app_exceptions=False) as client:
            assert await client.receive_text() == "ready"
            await client.send_text("1")
            await client.send_text("2")
            assert (await closed_code(client))[0] == 1008


# ----------------------------------------------------------------- first_message_timeout


async def test_silent_client_is_closed_1008_after_the_first_message_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = websocket_app(echo, first_message_timeout=3.0)
    with trio.fail_after(30):
        async with connect(app) as client:
            start = trio.current_time()
            assert (await closed_code(client))[0] == 1008
            assert trio.current_time() - start == pytest.approx(3.0)


async def test_first_message_in_time_lifts_the_first_message_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = websocket_app(echo, first_message_timeout=3.0)
    with trio.fail_after(120):
        async with connect(app) as client:
            await trio.sleep(2.9)
            await client.send_text("hello")
            assert await client.receive_text() == "hello"
            await trio.sleep(60)
            await client.send_text("still here")
            assert await client.receive_text() == "still here"


async def test_first_message_timeout_cancels_a_handler_that_only_sends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = websocket_app(sender_only, first_message_timeout=3.0)
    with trio.fail_after(30):
        async with connect(app) as client:
            assert await client.receive_text() == "ready"
            start = trio.current_time()
            assert (await closed_code(client))[0] == 1008
            assert trio.current_time() - start == pytest.approx(3.0)


# ----------------------------------------------------------------- idle_timeout


async def test_idle_client_is_closed_1001_after_the_idle_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = websocket_app(echo, idle_timeout=5.0)
    with trio.fail_after(60):
        async with connect(app) as client:
            for _ in range(4):  # each message resets the clock
                await trio.sleep(4.0)
                await client.send_text("ping")
                assert await client.receive_text() == "ping"
            last = trio.current_time()
            assert await closed_code(client) == (1001, "idle timeout")
            assert trio.current_time() - last == pytest.approx(5.0)


async def test_idle_timeout_counts_from_the_accept_when_nothing_came() -> None:
    # On the real clock with a short timeout: the app is not idle at once.
    app = websocket_app(echo, idle_timeout=0.2)
    with trio.fail_after(5):
        async with connect(app) as client:
            start = trio.current_time()
            assert (await closed_code(client))[0] == 1001
            assert trio.current_time() - start >= 0.15


async def test_idle_timeout_applies_while_only_the_pump_reads(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The handler sits in wait_disconnected(); the pump's reads count as activity, and the
    handler is cancelled when the client has been silent for the timeout."""
    app = websocket_app(sender_only, idle_timeout=5.0)
    with trio.fail_after(60):
        async with connect(app) as client:
            await trio.sleep(4)
            await client.send_text("still here")
            sent_at = trio.current_time()
            await trio.sleep(4)  # 8 s after the accept, 4 s after the message: still open
            assert client.close_code is None
            assert await client.receive_text() == "ready"
            assert await closed_code(client) == (1001, "idle timeout")
            assert trio.current_time() - sent_at == pytest.approx(5.0)


# ----------------------------------------------------------------- accept_timeout


async def slow_to_accept(ws: WebSocket) -> None:
    await trio.sleep(10)
    await ws.accept()


@pytest.mark.parametrize("denial_extension", [True, False], ids=["denial", "no-denial"])
async def test_handler_that_does_not_accept_in_time_is_refused_with_403(
    autojump_clock: trio.testing.MockClock, denial_extension: bool
) -> None:
    app = websocket_app(slow_to_accept, accept_timeout=2.0)
    with trio.fail_after(30), pytest.raises(ConnectionRejected) as rejected:
        async with connect(app, denial_extension=denial_extension):
            pass
    assert rejected.value.status_code == 403
    if denial_extension:
        assert rejected.value.body == b"The handshake timed out.\n"


async def test_slow_authenticate_counts_against_the_accept_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def slow_auth(ws: WebSocket) -> None:
        await trio.sleep(10)

    app = websocket_app(echo, authenticate=slow_auth, accept_timeout=2.0)
    with trio.fail_after(30), pytest.raises(ConnectionRejected) as rejected:
        async with connect(app):
            pass
    assert rejected.value.status_code == 403


async def test_accept_timeout_stops_counting_once_accepted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def accept_then_linger(ws: WebSocket) -> None:
        await trio.sleep(1.5)
        await ws.accept()
        await trio.sleep(10)  # well past the accept timeout
        await ws.send_text("still running")

    app = websocket_app(accept_then_linger, accept_timeout=2.0)
    with trio.fail_after(30):
        async with connect(app) as client:
            assert await client.receive_text() == "still running"


# ----------------------------------------------------------------- over real sockets


async def _close_code_of(ws: trio_websocket.WebSocketConnection) -> int:
    while True:
        try:
            await ws.get_message()
        except trio_websocket.ConnectionClosed as closed:
            return closed.reason.code  # type: ignore[no-any-return]


@pytest.mark.hypercorn
@pytest.mark.parametrize("server", SERVERS)
async def test_size_and_rate_limits_over_real_sockets(server: str) -> None:
    sized = websocket_app(echo, max_message_size=8)
    rated = websocket_app(echo, rate_limit=RateLimit(rate=0.5, burst=2))
    with trio.fail_after(10):
        async with (
            served(sized, server) as url,
            trio_websocket.open_websocket_url(url + "/", **CLIENT) as ws,
        ):
            await ws.send_message("12345678")
            assert await ws.get_message() == "12345678"
            await ws.send_message("123456789")
            assert await _close_code_of(ws) == 1009
        async with (
            served(rated, server) as url,
            trio_websocket.open_websocket_url(url + "/", **CLIENT) as ws,
        ):
            for text in ("a", "b", "c"):
                await ws.send_message(text)
            assert await ws.get_message() == "a"
            assert await ws.get_message() == "b"
            assert await _close_code_of(ws) == 1008


@pytest.mark.hypercorn
@pytest.mark.parametrize("server", SERVERS)
async def test_timeouts_over_real_sockets(server: str) -> None:
    first = websocket_app(echo, first_message_timeout=0.2)
    idle = websocket_app(echo, idle_timeout=0.3)
    slow = websocket_app(slow_to_accept, accept_timeout=0.2)
    with trio.fail_after(15):
        async with (
            served(first, server) as url,
            trio_websocket.open_websocket_url(url + "/", **CLIENT) as ws,
        ):
            assert await _close_code_of(ws) == 1008
        async with (
            served(idle, server) as url,
            trio_websocket.open_websocket_url(url + "/", **CLIENT) as ws,
        ):
            for _ in range(3):
                await trio.sleep(0.15)
                await ws.send_message("ping")
                assert await ws.get_message() == "ping"
            start = trio.current_time()
            assert await _close_code_of(ws) == 1001
            assert trio.current_time() - start >= 0.2
        async with served(slow, server) as url:
            with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
                async with trio_websocket.open_websocket_url(url + "/", **CLIENT):
                    pass
            assert rejected.value.status_code == 403

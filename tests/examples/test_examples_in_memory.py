"""The examples behave as their docstrings say (in memory; see tests/integration for hypercorn)."""

from __future__ import annotations

import pytest
import trio

from examples import echo, reader_writer, ticker
from trio_ws.testing import ConnectionClosed, ConnectionRejected, connect


async def test_echo_echoes_text_and_bytes_and_closes_on_request() -> None:
    """/ echoes both kinds; "close 4000 bye" closes with that code and reason."""
    with trio.fail_after(5):
        async with connect(echo.app, "/") as client:
            await client.send_text("hello")
            assert await client.receive_text() == "hello"
            await client.send_bytes(b"\x00\xff")
            assert await client.receive_bytes() == b"\x00\xff"
            await client.send_text("close 4000 bye now")
            with pytest.raises(ConnectionClosed) as info:
                await client.receive_text()
    assert (info.value.code, info.value.reason) == (4000, "bye now")


@pytest.mark.parametrize(
    ("path", "status", "body"), [("/deny", 401, b"who are you?"), ("/forbidden", 403, b"")]
)
async def test_echo_refuses_on_the_refusing_routes(path: str, status: int, body: bytes) -> None:
    """/deny sends a denial response; /forbidden closes before accept (403)."""
    with trio.fail_after(5), pytest.raises(ConnectionRejected) as info:
        async with connect(echo.app, path):
            pass  # pragma: no cover
    assert (info.value.status_code, info.value.body) == (status, body)


async def test_ticker_ticks_and_stops_when_the_client_leaves(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The ticker pushes ticks without reading, and its handler ends when the client closes."""
    with trio.fail_after(60):
        async with connect(ticker.app) as client:
            ticks = [await client.receive_json() for _ in range(3)]
            await client.close()
            await client.wait_app_finished()
            assert client.app_exception is None
    assert ticks == [{"tick": 0}, {"tick": 1}, {"tick": 2}]


async def test_reader_and_writer_share_the_connection(autojump_clock: trio.abc.Clock) -> None:
    """Commands are answered while the writer task pushes subscribed events."""
    with trio.fail_after(60):
        async with connect(reader_writer.app) as client:
            await client.send_json({"subscribe": "news"})
            assert await client.receive_json() == {"subscribed": ["news"]}
            await client.send_json({"say": "hi"})
            assert await client.receive_json() == {"echo": "hi"}
            events = [await client.receive_json() for _ in range(2)]
            await client.close()
            await client.wait_app_finished()
            assert client.app_exception is None
    assert events == [{"topic": "news", "event": 0}, {"topic": "news", "event": 1}]

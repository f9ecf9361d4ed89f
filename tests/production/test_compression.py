"""The engine's permessage-deflate settings, negotiated with a real client."""

from __future__ import annotations

import pytest
import trio

from trio_ws import serve, websocket_app
from trio_ws.__main__ import _parser

from ._support import served
from .test_observe import echo

# websockets' Trio client came with websockets 17; tests-minimum runs websockets 16.
connect = pytest.importorskip(
    "websockets.trio.client", reason="needs websockets' Trio client (websockets 17+)"
).connect


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"),
        (
            {"server_max_window_bits": 10, "client_max_window_bits": 9, "compression_level": 1},
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
        ),
        (
            {"server_max_window_bits": 15, "client_max_window_bits": 15},
            "permessage-deflate; server_max_window_bits=15; client_max_window_bits=15",
        ),
    ],
)
async def test_window_bits_are_negotiated_and_messages_still_flow(
    settings: dict[str, int], expected: str
) -> None:
    text = "compressible " * 500
    with trio.fail_after(10):
        async with served(websocket_app(echo), None, **settings) as url, connect(url) as client:
            await client.send(text)
            assert await client.recv() == text
            assert client.response is not None
            negotiated = client.response.headers["Sec-WebSocket-Extensions"]
    assert negotiated == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("server_max_window_bits", 8),
        ("server_max_window_bits", 16),
        ("client_max_window_bits", 7),
        ("compression_level", 10),
        ("compression_memory_level", 0),
        ("compression_level", "6"),
    ],
)
async def test_a_setting_out_of_range_is_a_clear_error(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be an int from"):
        await serve(websocket_app(echo), "127.0.0.1", 0, **{name: value})  # type: ignore[misc]


def test_the_command_line_takes_the_compression_settings() -> None:
    args = _parser().parse_args(
        ["app:app", "--server-max-window-bits", "10", "--client-max-window-bits", "9",
         "--compression-level", "1", "--compression-memory-level", "3"]
    )  # fmt: skip
    assert (
        args.server_max_window_bits,
        args.client_max_window_bits,
        args.compression_level,
        args.compression_memory_level,
    ) == (10, 9, 1, 3)
    with pytest.raises(SystemExit):
        _parser().parse_args(["app:app", "--server-max-window-bits", "16"])

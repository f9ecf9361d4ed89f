"""Shared fixtures. Test modules are grouped by behaviour (see the README's layout)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest
import trio

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _close_client_sockets_trio_websocket_leaks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every client TCP stream a test opened and left open.

    trio-websocket 0.12.2 never closes its socket when the server closes the TCP connection
    after the close handshake or a rejection (``_reader_task`` breaks on EOF without
    ``_close_stream``, ``trio_websocket/_impl.py`` around line 1585), which ``filterwarnings =
    error`` turns into failures of unrelated tests when the socket is garbage-collected. (A sync
    fixture: pytest-trio does not run autouse async fixtures.)
    """
    opened: list[trio.SocketStream] = []
    original = trio.open_tcp_stream

    async def tracking(*args: Any, **kwargs: Any) -> trio.SocketStream:
        stream = await original(*args, **kwargs)
        opened.append(stream)
        return stream

    monkeypatch.setattr(trio, "open_tcp_stream", tracking)
    yield
    for stream in opened:
        if stream.socket.fileno() != -1:
            os.close(stream.socket.detach())

"""examples/echo.py served by hypercorn's trio worker, talked to by trio-websocket."""

from __future__ import annotations

import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from examples.echo import app

from ._plain_hypercorn import CLIENT, PlainHypercorn

pytestmark = pytest.mark.hypercorn


async def test_echo_text_and_bytes(plain_hypercorn: PlainHypercorn) -> None:
    """Text comes back as text, bytes as bytes, large messages whole."""
    with trio.fail_after(10):
        async with plain_hypercorn(app) as url, open_websocket_url(url + "/", **CLIENT) as ws:
            await ws.send_message("héllo")
            assert await ws.get_message() == "héllo"
            await ws.send_message(b"\x00\x01\xff")
            assert await ws.get_message() == b"\x00\x01\xff"
            big = bytes(range(256)) * 4096  # 1 MiB
            await ws.send_message(big)
            assert await ws.get_message() == big


async def test_echo_closes_with_the_requested_code(plain_hypercorn: PlainHypercorn) -> None:
    """ "close 4000 done" reaches the client as close code 4000 with its reason."""
    with trio.fail_after(10):
        async with plain_hypercorn(app) as url, open_websocket_url(url + "/", **CLIENT) as ws:
            await ws.send_message("close 4000 done")
            with pytest.raises(ConnectionClosed) as info:
                await ws.get_message()
    assert (info.value.reason.code, info.value.reason.reason) == (4000, "done")


@pytest.mark.parametrize(
    ("path", "status", "body"), [("/deny", 401, b"who are you?"), ("/forbidden", 403, None)]
)
async def test_echo_refusals(
    plain_hypercorn: PlainHypercorn, path: str, status: int, body: bytes | None
) -> None:
    """/deny answers 401 with its body; /forbidden (close before accept) answers 403."""
    with trio.fail_after(10):
        async with plain_hypercorn(app) as url:
            with pytest.raises(ConnectionRejected) as info:
                async with open_websocket_url(url + path, **CLIENT):
                    pass  # pragma: no cover
    assert info.value.status_code == status
    if body is not None:
        assert info.value.body == body

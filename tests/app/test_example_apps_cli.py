"""The example apps under the literal command users run:
``python -m hypercorn --worker-class trio examples.starlette_app:app`` (a subprocess)."""

from __future__ import annotations

import re
import subprocess
import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest
import trio
import trio_websocket

from ._servers import CLIENT, http_get, rejection

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

RUNNING = re.compile(rb"Running on http://127\.0\.0\.1:(\d+)")


@asynccontextmanager
async def hypercorn_cli(target: str) -> AsyncIterator[str]:
    """Run hypercorn's CLI with the trio worker on a free port; yield the ws:// base URL."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "hypercorn", "--worker-class", "trio", "--bind", "127.0.0.1:0",
         target],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        seen = b""
        while not (match := RUNNING.search(seen)):
            chunk = await process.stderr.receive_some(4096)
            assert chunk, f"hypercorn exited: {seen.decode(errors='replace')}"
            seen += chunk
        yield f"ws://127.0.0.1:{int(match.group(1))}"
    finally:
        process.terminate()
        with trio.move_on_after(5):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
        if process.stderr is not None:
            await process.stderr.aclose()


@pytest.mark.hypercorn
async def test_starlette_example_under_hypercorn_cli() -> None:
    with trio.fail_after(30):
        async with hypercorn_cli("examples.starlette_app:app") as url:
            status, body = await http_get(url, "/")
            assert status == 200
            assert b"trio_ws chat" in body
            assert (await rejection(url + "/rooms/a")).status_code == 401
            async with trio_websocket.open_websocket_url(
                url + "/rooms/a?token=alice-token", **CLIENT
            ) as ws:
                assert await ws.get_message() == "alice joined a"
                await ws.send_message("hi")
                assert await ws.get_message() == "alice: hi"


@pytest.mark.hypercorn
async def test_fastapi_example_under_hypercorn_cli() -> None:
    with trio.fail_after(30):
        async with hypercorn_cli("examples.fastapi_app:app") as url:
            assert (await http_get(url, "/"))[0] == 200
            assert (await rejection(url + "/items/2")).status_code == 401
            async with trio_websocket.open_websocket_url(
                url + "/items/2?token=bob-token", **CLIENT
            ) as ws:
                await ws.send_message("[1]")
                assert await ws.get_message() == '{"item":2,"user":"bob","echo":[1]}'

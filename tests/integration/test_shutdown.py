"""Graceful shutdown: open websockets get 1001/1012; nothing holds shutdown past the grace."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve
from trio_websocket import ConnectionClosed, open_websocket_url

from trio_ws._serve import serve
from trio_ws._serve_extension import ShutdownExtension, shutdown_extension
from trio_ws.testing import serve_app

from ._support import CLIENT, echo, port_of, read_http_head, upgrade_request

if TYPE_CHECKING:
    from trio_ws._types import Receive, Scope, Send

pytestmark = pytest.mark.hypercorn

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    """An app that accepts, echoes, and records each connection's disconnect code."""

    def __init__(self) -> None:
        self.codes: list[int] = []
        self.extensions: list[ShutdownExtension] = []
        self.accepted = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        extension = shutdown_extension(scope)
        assert extension is not None
        self.extensions.append(extension)
        await receive()
        await send({"type": "websocket.accept"})
        self.accepted += 1
        while (message := await receive())["type"] != "websocket.disconnect":
            await send({"type": "websocket.send", "text": message["text"]})
        self.codes.append(message["code"])


async def _client_sees(url: str, ready: trio.Event | None, codes: list[int]) -> None:
    async with open_websocket_url(url, **CLIENT) as ws:
        await ws.send_message("hi")
        assert await ws.get_message() == "hi"
        if ready is not None:
            ready.set()
        try:
            await ws.get_message()
        except ConnectionClosed as closed:
            codes.append(closed.reason.code)


@pytest.mark.parametrize("code", [1001, 1012])
async def test_shutdown_closes_every_client_with_the_shutdown_code(code: int) -> None:
    """Three open clients all get the code; the app's receive reports it too; shutdown is quick."""
    app = Recorder()
    client_codes: list[int] = []
    stop = trio.Event()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(
                partial(
                    serve,
                    app,
                    port=0,
                    shutdown_trigger=stop.wait,
                    shutdown_close_code=code,
                    graceful_timeout=5,
                )
            )
            async with trio.open_nursery() as clients:
                for _ in range(3):
                    ready = trio.Event()
                    clients.start_soon(_client_sees, urls[0], ready, client_codes)
                    await ready.wait()
                started = trio.current_time()
                stop.set()
        elapsed = trio.current_time() - started
    assert client_codes == [code] * 3
    assert app.codes == [code] * 3
    assert elapsed < 2, f"shutdown took {elapsed:.2f} s with responsive clients"
    assert app.extensions[0]["close_code"] == code
    assert isinstance(app.extensions[0]["event"], trio.Event)
    assert app.extensions[0]["event"].is_set()


async def _stalled_client(port: int) -> trio.socket.SocketType:
    """A connected websocket client that never reads again (small receive buffer)."""
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", port))
    stream = trio.SocketStream(sock)
    await stream.send_all(upgrade_request())
    head, _ = await read_http_head(stream)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _flooding_app(blocked: trio.Event) -> object:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        chunk = b"x" * 2**16
        for _ in range(400):  # at most 25 MiB; the socket fills long before
            with trio.move_on_after(0.3) as waiting:
                await send({"type": "websocket.send", "bytes": chunk})
            if waiting.cancelled_caught:
                blocked.set()  # hypercorn's send is shielded: this fires only once it returns
        await trio.sleep_forever()

    return app


async def _watch_blocked(blocked: trio.Event) -> None:
    # The shielded send returns late, so detect the block from outside instead.
    await trio.sleep(0.5)
    blocked.set()


async def test_a_client_that_does_not_read_cannot_hold_shutdown_past_the_grace_period() -> None:
    """The app's send to a client that does not read blocks; serve still returns within the
    grace period (the engine's timed-out send aborted the connection, or the deadline does)."""
    blocked = trio.Event()
    stop = trio.Event()
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(
                partial(
                    serve,
                    _flooding_app(blocked),
                    port=0,
                    shutdown_trigger=stop.wait,
                    graceful_timeout=1,
                    ping_interval=None,
                )
            )
            sock = await _stalled_client(port_of(urls[0]))
            await _watch_blocked(blocked)
            started = trio.current_time()
            stop.set()
        elapsed = trio.current_time() - started
        sock.close()
    assert elapsed < 2.5, f"shutdown took {elapsed:.2f} s with graceful_timeout=1"


async def test_plain_hypercorn_shutdown_is_held_by_a_client_that_does_not_read() -> None:
    """Documents the problem: plain hypercorn is still serving long after its grace period."""
    blocked = trio.Event()
    stop = trio.Event()
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.graceful_timeout = 0.5
    config.errorlog = None

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan")
        await _flooding_app(blocked)(scope, receive, send)  # type: ignore[operator]

    finished = trio.Event()

    async def run_hypercorn(*, task_status: trio.TaskStatus[list[str]]) -> None:
        await hypercorn_serve(
            app, config, shutdown_trigger=stop.wait, mode="asgi", task_status=task_status
        )
        finished.set()

    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(run_hypercorn)
            sock = await _stalled_client(port_of(urls[0].replace("http://", "ws://")))
            await _watch_blocked(blocked)
            stop.set()
            await trio.sleep(2.0)  # four times the grace period
            held = not finished.is_set()
            sock.close()  # release it
    assert held, "plain hypercorn finished shutting down: upstream fixed the shielded send"


async def test_an_app_ignoring_the_disconnect_is_cancelled_at_the_deadline() -> None:
    """An app that keeps running after the shutdown close is cancelled when the grace ends."""
    cancelled: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await receive()  # the shutdown disconnect
            await trio.sleep_forever()
        except trio.Cancelled:
            cancelled.append(True)
            raise

    stop = trio.Event()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(
                partial(serve, app, port=0, shutdown_trigger=stop.wait, graceful_timeout=0.5)
            )
            async with open_websocket_url(urls[0], **CLIENT) as ws:
                stop.set()
                with pytest.raises(ConnectionClosed):
                    await ws.get_message()
                assert ws.closed is not None
                assert ws.closed.code == 1001
    assert cancelled == [True]


async def test_cancelling_serve_stops_at_once_even_with_a_stalled_client() -> None:
    """Cancellation is not graceful but is prompt, shielded sends included."""
    blocked = trio.Event()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(
                partial(serve, _flooding_app(blocked), port=0, ping_interval=None)
            )
            sock = await _stalled_client(port_of(urls[0]))
            await _watch_blocked(blocked)
            started = trio.current_time()
            nursery.cancel_scope.cancel()
        elapsed = trio.current_time() - started
        sock.close()
    assert elapsed < 1


async def test_serve_app_shuts_down_gracefully_at_exit() -> None:
    """Leaving serve_app with a client connected delivers 1001 to it."""
    codes: list[int] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            ready = trio.Event()
            async with serve_app(echo) as url:
                nursery.start_soon(_client_sees, url, ready, codes)
                await ready.wait()
    assert codes == [1001]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_cli_prints_the_url_and_shuts_down_gracefully_on_sigterm(tmp_path: Path) -> None:
    """python -m trio_ws MODULE:APP --port 0: URL on stdout; SIGTERM -> clients get 1001, exit 0."""
    (tmp_path / "cli_app.py").write_text(_CLI_APP)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with trio.fail_after(20):
        process = await trio.lowlevel.open_process(
            [
                sys.executable,
                "-m",
                "trio_ws",
                "cli_app:app",
                "--port",
                "0",
                "--graceful-timeout",
                "2",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert process.stdout is not None
            line = bytearray()
            while not line.endswith(b"\n"):
                line += await process.stdout.receive_some(1)
            url = line.decode().strip()
            assert url.startswith("ws://127.0.0.1:")
            codes: list[int] = []
            async with trio.open_nursery() as nursery:
                ready = trio.Event()
                nursery.start_soon(_client_sees, url, ready, codes)
                await ready.wait()
                process.send_signal(signal.SIGTERM)
            assert await process.wait() == 0
            await process.stdout.aclose()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert codes == [1001]


_CLI_APP = """
async def app(scope, receive, send):
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] != "websocket.disconnect":
        await send({"type": "websocket.send", "text": message["text"]})
"""

"""``python -m trio_ws`` as an operator runs it: the access log, metrics (with and without
``--workers``), the shutdown line, and failures that end in one line with exit status 1.

Every test runs real processes and real clients, bounded by ``trio.fail_after``, and kills
what it started however it ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest
import trio
import trio_websocket
from websockets.sync.client import connect as sync_connect

from tests.engine._raw import self_signed_cert

from ._support import http_get, samples

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@contextmanager
def trio_ws_process(*args: str, cwd: str = ROOT) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m trio_ws *args``; killed (with its workers) at exit if still running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "trio_ws", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": ROOT},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        for pipe in (process.stdout, process.stderr):
            assert pipe is not None
            pipe.close()


async def read_line(pipe: object) -> str:
    line: bytes = await trio.to_thread.run_sync(pipe.readline)  # type: ignore[attr-defined]
    return line.decode()


async def read_url(process: subprocess.Popen[bytes]) -> str:
    """The URL the server prints first; if it exits instead, fail with what it said."""
    url = (await read_line(process.stdout)).strip()
    if not url:
        status = await trio.to_thread.run_sync(process.wait)
        said = (await trio.to_thread.run_sync(process.stderr.read)).decode()  # type: ignore[union-attr]
        pytest.fail(f"the server exited with status {status} before its URL:\n{said}")
    return url


async def stderr_until(process: subprocess.Popen[bytes], needle: str) -> list[str]:
    """Lines of standard error up to and including the first one containing ``needle``."""
    lines: list[str] = []
    while True:
        line = await read_line(process.stderr)
        assert line, f"stderr ended before {needle!r}: {lines}"
        lines.append(line.rstrip("\n"))
        if needle in line:
            return lines


def run_to_end(
    *args: str, cwd: str = ROOT, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trio_ws", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": ROOT},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def test_access_log_metrics_url_and_shutdown_line() -> None:
    with (
        trio_ws_process(
            "examples.echo:app", "--port", "0", "--access-log", "--metrics-port", "0"
        ) as process,
        trio.fail_after(30),
    ):
        url = await read_url(process)
        assert url.startswith("ws://127.0.0.1:"), url  # a websocket-only app: ws://
        [metrics_line] = (await stderr_until(process, "metrics on"))[-1:]
        metrics_url = metrics_line.split("metrics on ", 1)[1]
        assert metrics_url.startswith("http://127.0.0.1:")
        assert metrics_url.endswith("/metrics")
        async with trio_websocket.open_websocket_url(url + "/") as client:
            await client.send_message("hello")
            assert await client.get_message() == "hello"
            local = client.local
        access = (await stderr_until(process, '"WS /" 101'))[-1]
        with pytest.raises(trio_websocket.ConnectionRejected):
            async with trio_websocket.open_websocket_url(url + "/deny"):
                pass
        refusal = (await stderr_until(process, '"WS /deny"'))[-1]
        status, body = await http_get(metrics_url)
        scraped = samples(body)
        process.send_signal(signal.SIGTERM)
        shutdown = (await stderr_until(process, "shutting down"))[-1]
        assert await trio.to_thread.run_sync(process.wait) == 0
        rest = (await trio.to_thread.run_sync(process.stderr.read)).decode()  # type: ignore[union-attr]
        stdout_rest = (await trio.to_thread.run_sync(process.stdout.read)).decode()  # type: ignore[union-attr]
    assert f'{local.address}:{local.port} "WS /" 101 ' in access
    assert 'close 1000 "" by client, 1 in 1 out' in access
    assert '"WS /deny" 401 ' in refusal
    assert "refused by application" in refusal
    assert status == 200
    assert scraped["trio_ws_connections_total"] == 1
    assert scraped['trio_ws_handshakes_refused_total{status="401"}'] == 1
    assert "shutting down (SIGTERM): closing open websockets with 1001" in shutdown
    assert stdout_rest == ""  # the URL was printed once
    assert "Traceback" not in rest


async def test_an_app_that_serves_pages_is_announced_with_http(tmp_path: Path) -> None:
    (tmp_path / "pages.py").write_text(
        textwrap.dedent(
            """
            from starlette.applications import Starlette
            from starlette.responses import PlainTextResponse
            from starlette.routing import Route

            async def home(request):
                return PlainTextResponse("home")

            app = Starlette(routes=[Route("/", home)])
            """
        )
    )
    with (
        trio_ws_process("pages:app", "--port", "0", cwd=str(tmp_path)) as process,
        trio.fail_after(30),
    ):
        url = await read_url(process)
        status, body = await http_get(url)
        process.send_signal(signal.SIGINT)
        shutdown = (await stderr_until(process, "shutting down"))[-1]
        assert await trio.to_thread.run_sync(process.wait) == 0
    assert "shutting down (SIGINT)" in shutdown
    assert url.startswith("http://127.0.0.1:"), url
    assert url.endswith("/"), url
    assert (status, body) == (200, "home")


def _free_port_pair() -> int:
    """A port P such that P and P+1 are free now (for worker 0 and worker 1)."""
    for _ in range(50):
        with socket.socket() as first:
            # as the server binds: a port some connection left in TIME_WAIT is free to it
            first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            first.bind(("127.0.0.1", 0))
            port: int = first.getsockname()[1]
            with socket.socket() as second:
                second.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no two consecutive free ports")


@pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT balancing")
async def test_with_workers_each_worker_serves_its_metrics_on_port_plus_its_index() -> None:
    metrics_port = _free_port_pair()
    with (
        trio_ws_process(
            "examples.echo:app",
            "--port",
            "0",
            "--workers",
            "2",
            "--metrics-port",
            str(metrics_port),
        ) as process,
        trio.fail_after(60),
    ):
        url = await read_url(process)
        clients = 12
        for n in range(clients):
            async with trio_websocket.open_websocket_url(url + "/") as client:
                await client.send_message(f"m{n}")
                await client.get_message()
        scraped = []
        for index in range(2):
            metrics_url = f"http://127.0.0.1:{metrics_port + index}/metrics"
            for _ in range(100):  # a worker reports a connection when it has ended
                scrape = samples((await http_get(metrics_url))[1])
                if scrape["trio_ws_connections_open"] == 0:
                    break
                await trio.sleep(0.05)
            scraped.append(scrape)
        process.send_signal(signal.SIGTERM)
        assert await trio.to_thread.run_sync(process.wait) == 0
    totals = [scrape["trio_ws_connections_total"] for scrape in scraped]
    assert sum(totals) == clients, totals
    assert sum(scrape["trio_ws_messages_received_total"] for scrape in scraped) == clients
    pids = {scrape["process_start_time_seconds"] for scrape in scraped}
    assert len(pids) == 2  # two processes answered


async def _open_silent_websocket(url: str) -> trio.SocketStream:
    """A websocket that completes its handshake and then never reads or answers a close."""
    host, port = url.removeprefix("ws://").rstrip("/").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    await stream.send_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = await stream.receive_some()
        assert chunk, answer
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return stream


def _logged_by(line: str) -> int:
    """The process id in a log line of hypercorn's shape (``[time] [pid] [INFO] ...``)."""
    return int(line.split("] [", 2)[1])


@pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT balancing")
async def test_with_workers_the_shutdown_is_one_line_from_the_parent() -> None:
    with (
        trio_ws_process("examples.echo:app", "--port", "0", "--workers", "2") as process,
        trio.fail_after(60),
    ):
        url = await read_url(process)
        async with trio_websocket.open_websocket_url(url + "/") as client:
            await client.send_message("hello")
            assert await client.get_message() == "hello"
            process.send_signal(signal.SIGTERM)
            with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                await client.get_message()
        assert await trio.to_thread.run_sync(process.wait) == 0
        stderr = (await trio.to_thread.run_sync(process.stderr.read)).decode()  # type: ignore[union-attr]
    assert closed.value.reason.code == 1001  # the worker did shut down gracefully
    [line] = [line for line in stderr.splitlines() if "shutting down" in line]
    assert _logged_by(line) == process.pid
    assert (
        "trio_ws: shutting down (SIGTERM): 2 workers closing open websockets with 1001, "
        "connections get 5.0 s; signal again to stop at once"
    ) in line
    assert "second signal" not in stderr
    assert "Traceback" not in stderr


@pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT balancing")
async def test_with_workers_a_second_signal_is_one_parent_line_and_stops_at_once() -> None:
    with (
        trio_ws_process(
            "examples.echo:app", "--port", "0", "--workers", "2", "--graceful-timeout", "60"
        ) as process,
        trio.fail_after(30),  # well inside the 60 s a graceful stop would wait for the client
    ):
        url = await read_url(process)
        silent = await _open_silent_websocket(url)
        async with silent:
            process.send_signal(signal.SIGINT)
            first = (await stderr_until(process, "shutting down"))[-1]
            process.send_signal(signal.SIGINT)
            second = (await stderr_until(process, "second signal"))[-1]
            assert await trio.to_thread.run_sync(process.wait) == 0
        rest = (await trio.to_thread.run_sync(process.stderr.read)).decode()  # type: ignore[union-attr]
    assert "shutting down (SIGINT): 2 workers" in first
    assert "connections get 60.0 s" in first
    assert _logged_by(first) == _logged_by(second) == process.pid
    assert second.endswith("trio_ws: second signal: stopping at once")
    assert "shutting down" not in rest
    assert "second signal" not in rest
    assert "Traceback" not in rest


LIFESPAN_FAILS = """
import contextlib
from starlette.applications import Starlette

@contextlib.asynccontextmanager
async def lifespan(app):
    raise ConnectionError("cannot reach redis at 127.0.0.1:1")
    yield

app = Starlette(lifespan=lifespan)
"""


def test_a_failed_lifespan_startup_is_one_line_before_anything_says_serving(tmp_path: Path) -> None:
    (tmp_path / "failing.py").write_text(LIFESPAN_FAILS)
    result = run_to_end("failing:app", "--port", "0", cwd=str(tmp_path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "trio_ws: cannot serve failing:app on 127.0.0.1:0: the application's lifespan startup "
        "failed: ConnectionError: cannot reach redis at 127.0.0.1:1"
    ]


@pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT")
def test_a_failed_lifespan_startup_under_workers_stops_the_server_with_its_cause(
    tmp_path: Path,
) -> None:
    (tmp_path / "failing.py").write_text(LIFESPAN_FAILS)
    result = run_to_end("failing:app", "--port", "0", "--workers", "2", cwd=str(tmp_path))
    assert result.returncode == 1
    assert result.stdout == ""
    cause, stopping = result.stderr.splitlines()
    assert cause.endswith(
        "the application's lifespan startup failed: ConnectionError: cannot reach redis at "
        "127.0.0.1:1"
    )
    assert stopping.endswith("did not start (exit status 1); stopping")


async def test_the_access_log_can_go_to_a_file(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    with (
        trio_ws_process("examples.echo:app", "--port", "0", "--access-log", str(log)) as process,
        trio.fail_after(30),
    ):
        url = await read_url(process)
        async with trio_websocket.open_websocket_url(url + "/") as client:
            await client.send_message("close 4001 done")
            with pytest.raises(trio_websocket.ConnectionClosed):
                await client.get_message()
        process.send_signal(signal.SIGTERM)
        assert await trio.to_thread.run_sync(process.wait) == 0
    [line] = log.read_text().splitlines()
    assert '"WS /" 101 ' in line
    assert 'close 4001 "done" by server, 1 in 0 out' in line


@pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT")
def test_a_port_in_use_under_workers_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_to_end("examples.echo:app", "--port", str(port), "--workers", "2")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"trio_ws: cannot serve examples.echo:app on 127.0.0.1:{port}: OSError: "
        "[Errno 98] Address already in use"
    ]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_tls_files_that_cannot_be_read_are_one_line(tmp_path: Path, workers: str) -> None:
    missing = tmp_path / "missing.pem"
    not_a_cert = tmp_path / "junk.pem"
    not_a_cert.write_text("not a certificate\n")
    for certfile, expected in ((missing, "No such file or directory"), (not_a_cert, "PEM")):
        result = run_to_end(
            "examples.echo:app", "--port", "0", "--workers", workers, "--certfile", str(certfile)
        )
        assert result.returncode == 1
        [line] = result.stderr.splitlines()
        assert line.startswith(f"trio_ws: cannot use the TLS files {certfile}: "), line
        assert expected in line, line


BROADCAST_UNDER_ASYNCIO = """
import contextlib
from starlette.applications import Starlette
from trio_ws import Broadcast

@contextlib.asynccontextmanager
async def lifespan(app):
    async with Broadcast("memory://") as broadcast:
        yield {"broadcast": broadcast}

app = Starlette(lifespan=lifespan)
"""


def test_a_trio_ws_app_under_asyncio_hypercorn_fails_its_startup_saying_why() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hypercorn", "examples.echo:app", "--bind", "127.0.0.1:0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "Lifespan failure in startup. 'trio_ws needs Trio, but this code is not running" in (
        result.stderr
    )


def test_broadcast_under_asyncio_hypercorn_says_it_needs_trio(tmp_path: Path) -> None:
    (tmp_path / "asyncio_app.py").write_text(BROADCAST_UNDER_ASYNCIO)
    result = subprocess.run(
        [sys.executable, "-m", "hypercorn", "asyncio_app:app", "--bind", "127.0.0.1:0"],
        cwd=str(tmp_path),
        env={**os.environ, "PYTHONPATH": ROOT},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    # hypercorn stops at the failed lifespan startup (with status 0: its choice)
    assert "Broadcast needs Trio, but this code is not running in a Trio task" in result.stderr
    assert "UnboundLocalError" not in result.stderr


def _tls_echo_then_close(url: str, cert: str) -> str:
    context = ssl.create_default_context(cafile=cert)
    with sync_connect(url, ssl=context, open_timeout=5, compression="deflate") as ws:
        ws.send("over tls")
        reply = str(ws.recv(timeout=5))
        ws.close(4002, "tls-bye")
    return reply


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
async def test_over_tls_the_url_says_wss_and_the_access_log_sees_the_websocket(
    tmp_path: Path,
) -> None:
    cert, key = self_signed_cert(tmp_path)
    with (
        trio_ws_process(
            "examples.echo:app",
            "--port",
            "0",
            "--certfile",
            cert,
            "--keyfile",
            key,
            "--access-log",
        ) as process,  # fmt: skip
        trio.fail_after(30),
    ):
        url = await read_url(process)
        assert url.startswith("wss://127.0.0.1:"), url
        reply = await trio.to_thread.run_sync(_tls_echo_then_close, url + "/", cert)
        access = (await stderr_until(process, '"WS /" 101'))[-1]
        process.send_signal(signal.SIGTERM)
        assert await trio.to_thread.run_sync(process.wait) == 0
    assert reply == "over tls"
    assert 'close 4002 "tls-bye" by client, 1 in 1 out' in access

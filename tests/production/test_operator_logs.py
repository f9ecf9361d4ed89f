"""Logs an operator can read: a repeated condition is logged when it starts, as a count, and
when it ends (EMFILE at the accept loop, Redis down); an expected close (the broadcast backend
down) reaches the client with a reason and leaves no traceback."""

from __future__ import annotations

import errno
import gc
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing
import trio_websocket

from trio_ws import (
    Broadcast,
    BroadcastUnavailable,
    WebSocket,
    WebSocketException,
    websocket_app,
)
from trio_ws._accept import accept_connections
from trio_ws._repeated import RepeatedCondition

from ._support import Recorder, served

if TYPE_CHECKING:
    from tests.broadcast.conftest import RedisServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_repeated_condition_is_logged_at_its_start_as_counts_and_at_its_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tenths = [0]
    condition = RepeatedCondition(
        logging.getLogger("test.repeated"),
        "cannot do it",
        interval=10,
        clock=lambda: tenths[0] / 10,
    )
    for _ in range(250):  # 25 s at ten failures a second
        condition.occurred("EMFILE")
        tenths[0] += 1
    condition.ended()
    condition.ended()  # over already: nothing more
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "cannot do it: EMFILE (repeats are counted, not logged)",
        "cannot do it: still failing, 100 more time(s) in the last 10 s (latest: EMFILE)",
        "cannot do it: still failing, 100 more time(s) in the last 10 s (latest: EMFILE)",
        "cannot do it: recovered after 25.0 s (250 occurrence(s))",
    ]


class _ExhaustedListener(trio.abc.Listener[Any]):
    """accept() fails with EMFILE ``failures`` times, then returns a stream each time."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    async def accept(self) -> Any:
        await trio.lowlevel.checkpoint()
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        left, _ = trio.testing.memory_stream_pair()
        return left

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


async def test_the_accept_loop_retries_emfile_and_logs_it_as_a_condition(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handled = trio.Event()

    async def handler(stream: Any) -> None:
        handled.set()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            # 300 failures, 0.1 s apart, on the real clock would be 30 s: 1 ms apart here
            nursery.start_soon(
                lambda: accept_connections(
                    _ExhaustedListener(300), handler, nursery, retry_after=0.001
                )
            )
            await handled.wait()
            nursery.cancel_scope.cancel()
    lines = [r.getMessage() for r in caplog.records if r.name == "trio_ws.server"]
    assert len(lines) == 2, lines  # no count line: less than 10 s went by
    assert lines[0].startswith("trio_ws: cannot accept connections: Too many open files")
    assert "raise `ulimit -n`" in lines[0]
    assert lines[1].startswith("trio_ws: cannot accept connections: recovered after")
    assert lines[1].endswith("(300 occurrence(s))")


def _low_limit() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def _server_with_64_descriptors() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "trio_ws", "examples.echo:app", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_low_limit,
        start_new_session=True,
    )


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_NOFILE and EMFILE on accept")
async def test_a_server_at_its_descriptor_limit_logs_one_line_not_a_traceback_per_retry() -> None:
    process = _server_with_64_descriptors()
    sockets: list[socket.socket] = []
    try:
        with trio.fail_after(30):
            assert process.stdout is not None
            assert process.stderr is not None
            url = (await trio.to_thread.run_sync(process.stdout.readline)).decode().strip()
            port = int(url.rsplit(":", 1)[1])
            for _ in range(100):  # more idle connections than the server has descriptors
                sockets.append(socket.create_connection(("127.0.0.1", port)))
            line = await trio.to_thread.run_sync(process.stderr.readline)
            assert b"cannot accept connections: Too many open files" in line, line
            for sock in sockets:
                sock.close()
            sockets.clear()
            recovered = await trio.to_thread.run_sync(process.stderr.readline)
            assert b"cannot accept connections: recovered after" in recovered, recovered
            async with trio_websocket.open_websocket_url(url + "/") as client:
                await client.send_message("served again")
                assert await client.get_message() == "served again"
            process.send_signal(signal.SIGTERM)
            assert await trio.to_thread.run_sync(process.wait) == 0
            rest = await trio.to_thread.run_sync(process.stderr.read)
        assert b"Traceback" not in rest
    finally:
        for sock in sockets:
            sock.close()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


class _LineSeen(logging.Handler):
    """Sets an event when a record containing ``needle`` is logged (in the Trio thread)."""

    def __init__(self, needle: str) -> None:
        super().__init__()
        self.needle = needle
        self.event = trio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.event.set()


@pytest.mark.filterwarnings(  # coredis 6.9's leak of never-connected streams (tests/broadcast)
    "ignore:Exception ignored in. <function MemoryObject:pytest.PytestUnraisableExceptionWarning"
)
@pytest.mark.usefixtures("_collect_garbage")
async def test_redis_down_closes_publishers_with_a_reason_and_is_logged_once(
    own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    broadcast_log = logging.getLogger("trio_ws.broadcast")
    lost = _LineSeen("(repeats are counted, not logged)")
    back = _LineSeen("recovered after")
    broadcast_log.addHandler(lost)
    broadcast_log.addHandler(back)
    try:
        async with Broadcast(own_redis_server.url, connect_timeout=1) as broadcast:

            async def chat(ws: WebSocket) -> None:
                await ws.accept()
                ws.start_soon(broadcast.forward, "room", ws)
                async for text in ws.iter_text():
                    await broadcast.publish("room", text)

            recorder = Recorder()
            with trio.fail_after(40):
                async with served(websocket_app(chat), recorder) as url:
                    async with trio_websocket.open_websocket_url(url) as client:
                        await client.send_message("before")
                        assert await client.get_message() == "before"
                        own_redis_server.stop()
                        await lost.event.wait()
                        await client.send_message("during")
                        with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                            await client.get_message()
                    await recorder.next("ended")
                    # a newcomer meanwhile: Broadcast.forward cannot subscribe
                    async with trio_websocket.open_websocket_url(url) as newcomer:
                        with pytest.raises(trio_websocket.ConnectionClosed) as forwarded:
                            await newcomer.get_message()
                    await recorder.next("ended")
                    own_redis_server.start()
                    await back.event.wait()
    finally:
        broadcast_log.removeHandler(lost)
        broadcast_log.removeHandler(back)
        gc.collect()
    for ending in (closed, forwarded):  # publish, then forward's subscribe
        assert (ending.value.reason.code, ending.value.reason.reason) == (
            1011,
            "broadcast unavailable",
        )
    ours = [r for r in caplog.records if r.name.startswith(("trio_ws", "hypercorn"))]
    assert [r for r in ours if r.exc_info or r.levelno >= logging.ERROR] == []
    outage = [r.getMessage() for r in caplog.records if "Redis at" in r.getMessage()]
    assert "(repeats are counted, not logged)" in outage[0]
    assert "recovered after" in outage[-1]
    assert all("still failing" in line for line in outage[1:-1])
    assert len(outage) <= 2 + 4  # start, at most one count line per 10 s of a < 40 s outage, end


def test_broadcast_unavailable_is_an_expected_close_with_a_reason() -> None:
    error = BroadcastUnavailable("publish to 'room' failed")
    assert isinstance(error, WebSocketException)
    assert (error.code, error.reason, str(error)) == (
        1011,
        "broadcast unavailable",
        "publish to 'room' failed",
    )

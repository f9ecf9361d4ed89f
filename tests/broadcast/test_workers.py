"""Several server processes: ``--workers 2`` behind one port, and two servers sharing Redis.

Every test starts real processes (``python -m trio_ws``) and real clients, is bounded by
``trio.fail_after``, and kills what it started however it ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest
import trio
from trio_websocket import ConnectionClosed, connect_websocket_url

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .conftest import RedisServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT balancing")


@contextmanager
def server_process(
    *args: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m trio_ws examples.broadcast_chat:app *args``; killed at exit if still running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "trio_ws", "examples.broadcast_chat:app", "--port", "0",
         "--graceful-timeout", "2", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the server and its workers
        process.wait(timeout=10)
        for pipe in (process.stdout, process.stderr):
            assert pipe is not None
            pipe.close()


async def read_url(process: subprocess.Popen[bytes]) -> str:
    assert process.stdout is not None
    line = await trio.to_thread.run_sync(process.stdout.readline)
    url = line.decode().strip()
    assert url.startswith("ws://"), (url, process.poll())
    return url


async def join(url: str, room: str, nursery: trio.Nursery) -> tuple[object, int]:
    """Connect a client to ``room``; return it and the pid of the worker that serves it."""
    with trio.fail_after(5):
        client = await connect_websocket_url(nursery, url + room)
    welcome = json.loads(await client.get_message())
    assert welcome["room"] == room
    return client, welcome["worker"]


async def drain(client: object) -> None:
    """Read until the connection closes (raises trio-websocket's ConnectionClosed)."""
    while True:
        await client.get_message()  # type: ignore[attr-defined]


async def test_two_workers_share_one_port_and_all_close_their_sockets_on_sigterm() -> None:
    with server_process("--workers", "2") as server, trio.fail_after(60):
        url = await read_url(server)
        async with trio.open_nursery() as nursery:
            clients = []
            pids: set[int] = set()
            for _ in range(40):  # the kernel spreads connections by their source port
                client, pid = await join(url, "/room", nursery)
                clients.append(client)
                pids.add(pid)
                if len(pids) == 2 and len(clients) >= 4:
                    break
            assert len(pids) == 2, "connections did not reach both workers"
            assert server.pid not in pids

            server.send_signal(signal.SIGTERM)
            for client in clients:
                with pytest.raises(ConnectionClosed) as closed:
                    await drain(client)
                assert closed.value.reason.code == 1001  # the close frame, not a dropped TCP
            nursery.cancel_scope.cancel()
        assert await trio.to_thread.run_sync(server.wait) == 0
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


async def test_a_dead_worker_is_reported_and_replaced() -> None:
    with server_process("--workers", "2") as server, trio.fail_after(60):
        url = await read_url(server)
        async with trio.open_nursery() as nursery:
            client, victim = await join(url, "/r", nursery)
            await client.aclose()  # type: ignore[attr-defined]
            os.kill(victim, signal.SIGKILL)
            assert server.stderr is not None
            lines: list[bytes] = []
            while b"replaced by worker" not in (lines[-1] if lines else b""):
                line = await trio.to_thread.run_sync(server.stderr.readline)  # logs share it
                assert line, lines  # EOF before the report
                lines.append(line)
            assert any(f"worker {victim} exited with status -9".encode() in x for x in lines)
            replacement = int(lines[-1].split(b"replaced by worker")[1])
            # the server keeps serving: on the survivor and on the replacement
            pids: set[int] = set()
            for _ in range(40):
                client, pid = await join(url, "/r", nursery)
                await client.aclose()  # type: ignore[attr-defined]
                pids.add(pid)
                if replacement in pids and len(pids) == 2:
                    break
            assert victim not in pids
            assert replacement in pids
            assert len(pids) == 2
            nursery.cancel_scope.cancel()


async def test_clients_of_two_servers_sharing_redis_are_in_the_same_room(
    redis_server: RedisServer,
) -> None:
    env = {"TRIO_WS_BROADCAST_URL": redis_server.url}
    with (
        server_process(env=env) as first,
        server_process(env=env) as second,
        trio.fail_after(60),
    ):
        first_url, second_url = await read_url(first), await read_url(second)
        assert first_url != second_url
        async with trio.open_nursery() as nursery:
            alice, alice_pid = await join(first_url, "/lobby", nursery)
            bob, bob_pid = await join(second_url, "/lobby", nursery)
            assert alice_pid != bob_pid
            # bob's subscription starts as his forward task starts: say it until it is heard
            heard = trio.Event()
            received: list[str] = []

            async def listen() -> None:
                received.append(await bob.get_message())  # type: ignore[attr-defined]
                heard.set()

            nursery.start_soon(listen)
            while not heard.is_set():
                await alice.send_message("hello from the first server")  # type: ignore[attr-defined]
                with trio.move_on_after(0.2):
                    await heard.wait()
            assert received == ["hello from the first server"]
            # and alice, in her own process, got her own message too
            assert await alice.get_message() == "hello from the first server"  # type: ignore[attr-defined]
            nursery.cancel_scope.cancel()


def test_the_worker_command_line_drops_only_the_options_the_parent_owns() -> None:
    from trio_ws._workers import strip_options

    argv = ["app:app", "--workers", "4", "--port=8000", "--host", "0.0.0.0", "--graceful-timeout",
            "3", "--workers=2", "--port", "9"]  # fmt: skip
    assert strip_options(argv, "--workers", "--port") == [
        "app:app", "--host", "0.0.0.0", "--graceful-timeout", "3",
    ]  # fmt: skip


def test_zero_workers_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trio_ws", "examples.broadcast_chat:app", "--workers", "0"],
        cwd=ROOT,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert b"--workers must be at least 1" in result.stderr

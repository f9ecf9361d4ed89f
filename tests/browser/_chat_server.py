"""The chat demo on several worker processes: ``python -m trio_ws examples.chat.app:app
--workers N`` with rooms and presence shared through Redis (used by tests/examples and
tests/browser)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@contextmanager
def chat_workers(
    redis_url: str, *, workers: int = 2, presence_ttl: float = 2.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Start the chat on ``workers`` processes; kill them all at exit if still running."""
    env = {**os.environ, "CHAT_BROADCAST_URL": redis_url, "CHAT_PRESENCE_TTL": str(presence_ttl),
           "PYTHONUNBUFFERED": "1"}  # fmt: skip
    with subprocess.Popen(
        [sys.executable, "-m", "trio_ws", "examples.chat.app:app", "--port", "0",
         "--workers", str(workers), "--graceful-timeout", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    ) as process:  # fmt: skip
        try:
            yield process
        finally:  # the server and its workers, however the test ended (Popen's exit waits)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


async def server_address(process: subprocess.Popen[bytes]) -> str:
    """``HOST:PORT`` of the URL the server prints first."""
    assert process.stdout is not None
    while True:
        line = await trio.to_thread.run_sync(process.stdout.readline, abandon_on_cancel=True)
        if not line:
            raise RuntimeError(f"the chat exited before printing its URL ({process.poll()})")
        found = re.search(r"\w+://([^/\s]+)", line.decode())
        if found:
            return found.group(1)

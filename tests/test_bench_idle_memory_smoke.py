"""``bench.idle_memory`` still runs end to end, tiny (no figure is asserted): a server per tree
and round, the clients' connections all echo, and the traced server's memory is split among
its owners."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

pytest.importorskip("psutil")  # the load client's (bench.loadclient)

from bench import idle_memory
from tests._time_bound import time_bound

if TYPE_CHECKING:
    from pathlib import Path


def test_before_and_after_servers_hold_their_connections_and_split_their_memory(
    tmp_path: Path,
) -> None:
    with time_bound(180):  # --base: this tree twice, each server in its own process
        table = idle_memory.run(30, 1, idle_memory.ROOT, tmp_path / "idle_memory.log")
    assert "| before (--base) |" in table
    assert "| after |" in table
    assert "| after / before, median of the rounds |" in table
    for kept_by in idle_memory.OWNERS:
        assert f"| {kept_by} |" in table


def test_each_allocation_is_kept_by_the_nearest_frame_of_ours() -> None:
    site = ".venv/lib/python3.11/site-packages"
    read = [f"{site}/trio/_core/_run.py", "/x/trio_ws/_engine/_transport.py",
            f"{site}/trio/_core/_io_epoll.py"]  # fmt: skip
    assert idle_memory.owner(read) == "trio: the parked read (wait, epoll registration)"
    task = ["/x/trio_ws/_accept.py", f"{site}/trio/_core/_run.py"]
    assert idle_memory.owner(task) == "trio: the task and the socket"
    parser = ["/x/trio_ws/_engine/_connection.py", f"{site}/websockets/protocol.py"]
    assert idle_memory.owner(parser) == "websockets' protocol"
    websocket = ["/x/bench/apps.py", "/x/trio_ws/_websocket.py", "/x/trio_ws/_link.py"]
    assert idle_memory.owner(websocket) == "WebSocket (direct mode)"
    scope = ["/x/trio_ws/_serve.py", "/x/trio_ws/_engine/_scope.py"]
    assert idle_memory.owner(scope) == "serve's objects and the scope"
    assert idle_memory.owner(["/x/trio_ws/_engine/_connection.py"]) == "engine connection"
    assert idle_memory.owner(["/x/trio_ws/_serve.py", "/x/bench/apps.py"]) == (
        "the application's frames"
    )

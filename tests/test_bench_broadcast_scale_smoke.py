"""``bench.broadcast_scale`` and ``bench.presence`` on the cluster still run end to end, tiny
(no timing is asserted): each in a subprocess under a timeout, starting its own redis-server,
3-master cluster, ``python -m trio_ws --workers 2`` servers and load client, every client
getting every message, and leaving no process behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("psutil")
pytest.importorskip("uvloop")
pytest.importorskip("coredis")

from tests.broadcast._cluster import cluster_tools_missing

missing = cluster_tools_missing()
pytestmark = pytest.mark.skipif(missing is not None, reason=missing or "")
ROOT = Path(__file__).resolve().parent.parent


def orphans(since: float) -> list[str]:
    """Processes started since ``since`` that a bench left behind (their parent gone)."""
    import psutil  # type: ignore[import-untyped]

    left = []
    for process in psutil.process_iter(["ppid", "create_time", "cmdline"]):
        info = process.info
        command = " ".join(info["cmdline"] or [])
        if (
            info["ppid"] == 1
            and (info["create_time"] or 0) >= since
            and ("bench.broadcast_scale" in command or "redis-server" in command)
        ):
            left.append(command)
    return left


def run_bench(*args: str, timeout: float) -> str:
    """Run ``python -m bench.<args>`` and return its table; the timeout bounds everything.
    Nothing it started may outlive it."""
    started = time.time() - 1
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert orphans(started) == []
    return done.stdout


def rows(table: str, label: str) -> list[str]:
    return [line for line in table.splitlines() if line.startswith(f"| {label}")]


def test_the_scale_bench_delivers_every_message_on_every_backend() -> None:
    table = run_bench("bench.broadcast_scale", "--quick", timeout=240)
    assert "error" not in table, table
    for label in ("memory, 1 worker", "one Redis, 2 workers", "3-master Redis Cluster"):
        (row,) = rows(table, label)
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[4] == "200/200", row  # 40 clients in 4 rooms, 20 messages: 10 each
        assert float(cells[2].replace(",", "")) > 0, row
    # both workers took part behind the one port
    for label in ("one Redis, 2 workers", "3-master Redis Cluster"):
        (row,) = rows(table, label)
        shares = re.search(r"\| (\d+)/(\d+) % \|", row)
        assert shares is not None, row
        assert min(int(shares[1]), int(shares[2])) > 0, row


def test_the_presence_bench_measures_the_cluster() -> None:
    table = run_bench(
        "bench.presence", "--ops", "20", "--churners", "4", "--population", "5", "--rounds",
        "1", "--backends", "redis,cluster", timeout=240,
    )  # fmt: skip
    for label in ("redis", "cluster"):
        (row,) = rows(table, label)
        changes = float(row.split("|")[2].replace(",", ""))
        assert changes > 0, row

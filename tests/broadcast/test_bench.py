"""bench.broadcast still runs: each part, tiny, prints its table with real figures.

No timing is asserted (speed is judged by the benchmark itself, never in unit tests).
"""

from __future__ import annotations

import re
import shutil

import pytest

from tests._time_bound import time_bound

bench = pytest.importorskip("bench.broadcast")


def figures(table: str) -> list[float]:
    return [float(x.replace(",", "")) for x in re.findall(r"\| ([\d,]+(?:\.\d+)?)(?: ms)? ", table)]


def test_the_fanout_part_measures_deliveries_memory_and_latency() -> None:
    with time_bound(60):
        table = bench.run_fanout(subscribers=30, messages=5, rounds=1)
    assert "| deliveries/s |" in table
    assert "| one never reads (drop_oldest) |" in table
    assert "stops the publisher after 256 publishes" in table
    assert all(value > 0 for value in figures(table))


def test_the_end_to_end_part_runs_both_servers() -> None:
    # The baseline is websockets' Trio server, which websockets 17 added (tests-minimum runs 16).
    pytest.importorskip(
        "websockets.trio", reason="the baseline needs websockets' Trio server (17+)"
    )
    with time_bound(60):  # two real servers and their clients
        table = bench.run_e2e(n_clients=4, rounds=2)
    assert "| trio_ws.serve + Broadcast.forward" in table
    assert "| websockets.trio server + broadcast() |" in table
    assert re.search(r"Ratio websockets/trio_ws: \d+\.\d\d", table)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_the_redis_part_counts_messages_across_processes() -> None:
    with time_bound(60):  # a real redis-server and processes
        table = bench.run_redis(count=50, rounds=1)
    assert "| trio_ws Broadcast |" in table
    assert "| bare coredis |" in table
    assert re.search(r"ratio trio_ws/coredis: \d+\.\d\d", table)


def test_the_cluster_part_compares_one_redis_with_a_cluster() -> None:
    from tests.broadcast._cluster import cluster_tools_missing

    missing = cluster_tools_missing()
    if missing:
        pytest.skip(missing)
    cluster_bench = pytest.importorskip("bench.broadcast_cluster")
    with time_bound(120):  # starts its own one Redis and 3-master cluster
        table = cluster_bench.run(count=20, rounds=1)
    assert "| one Redis |" in table
    assert "| 3-master cluster |" in table
    assert all(value > 0 for value in figures(table))

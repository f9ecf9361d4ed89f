"""bench.presence still runs: tiny, on both backends, with real figures (no timing asserted)."""

from __future__ import annotations

import re
import shutil

import pytest

from tests._time_bound import time_bound

bench = pytest.importorskip("bench.presence")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_the_churn_benchmark_measures_both_backends_against_publishing() -> None:
    with time_bound(60):  # real Redis connections, in trio.run: no fail_after of ours inside
        table = bench.run(ops=20, churners=4, population=5, rounds=1, backends=["memory", "redis"])
    rows = [line for line in table.splitlines() if line.startswith(("| memory", "| redis"))]
    assert len(rows) == 2, table
    for row in rows:
        figures = re.findall(r"\| ([\d,.]+)(?: µs| ms|\u00d7)? ", row + " ")
        assert len(figures) == 6, row
        assert all(float(value.replace(",", "")) > 0 for value in figures[:2]), row

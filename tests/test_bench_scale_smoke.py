"""``bench.scale`` still runs end to end, tiny (no timing is asserted): the idle and the fan-out
parts start their servers and clients in their own processes and every client gets every
message."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

pytest.importorskip("psutil")
pytest.importorskip("uvloop")
pytest.importorskip("uvicorn")

from bench import scale
from tests._time_bound import time_bound

if TYPE_CHECKING:
    from pathlib import Path


def test_the_fanout_part_delivers_every_message_on_every_server(tmp_path: Path) -> None:
    with time_bound(180):  # a server and a client process per kind
        result = scale.run_fanout(
            clients=30, rounds=2, rate=10.0, seconds=0.3, kinds=scale.FANOUT_KINDS,
            logs=tmp_path / "scale.log",
        )  # fmt: skip
    assert result.errors == []
    assert {kind: len(times) for kind, times in result.once.items()} == dict.fromkeys(
        scale.FANOUT_KINDS, 2
    )
    for kind, steady in result.steady.items():
        assert steady["deliveries"] == steady["expected"] == 3 * 30, kind
    assert "| trio_ws.serve + Broadcast.forward" in scale.fanout_table(result, 10.0, 0.3)


def test_the_idle_part_keeps_every_connection_open(tmp_path: Path) -> None:
    with time_bound(120):
        table = scale.run_idle(30, 0.2, ("idle-trio_ws",), tmp_path / "scale.log")
    assert "| 30/30 |" in table

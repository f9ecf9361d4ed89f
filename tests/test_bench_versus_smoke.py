"""The asyncio baselines of ``bench.versus`` still start and echo (no timing is asserted)."""

from __future__ import annotations

import pytest

pytest.importorskip("psutil")
pytest.importorskip("uvloop")
pytest.importorskip("uvicorn")
pytest.importorskip("httptools")

from typing import TYPE_CHECKING

from bench import e2e, loadclient, versus
from bench.server import ASYNCIO_TARGETS
from tests._time_bound import time_bound

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("target", ASYNCIO_TARGETS)
def test_the_asyncio_baseline_serves_the_echo_load(target: str, tmp_path: Path) -> None:
    """uvicorn-uvloop and websockets on uvloop answer 50 connections' round trips and
    handshakes (the load client checks every echo; the subprocess run is time-bounded)."""
    with time_bound(120), e2e.Server(target, tmp_path / "servers.log") as server:
        outcome = e2e.run_client(server, ("rt50_32", "handshake"), 0.2, count=10, idle=10)
    assert "error" not in outcome["rt50_32"], outcome
    assert outcome["rt50_32"]["ops"] > 0
    assert outcome["handshake"]["ops"] > 0


def test_every_goal_compares_targets_the_run_measures() -> None:
    """Each goal's target and baseline is one of the servers the run starts."""
    for goal in versus.PAIRED_GOALS:
        assert {goal.target, goal.base} <= set(versus.PAIRED_TARGETS), goal
    for goal, _scenario in versus.SIZED_GOALS:
        assert {goal.target, goal.base} <= set(versus.SIZED_TARGETS), goal
    goal = versus.HANDSHAKE_GOAL
    assert {goal.target, goal.base} <= set(versus.HANDSHAKE_TARGETS), goal
    goal = versus.PAIRED_GOALS[0]
    assert goal.met(goal.limit - 0.01) is True  # type: ignore[operator]
    assert goal.met(goal.limit + 0.01) is False  # type: ignore[operator]


def test_the_paired_handshake_run_measures_every_server(tmp_path: Path) -> None:
    """``run_paired(handshakes=True)`` alternates the open/close loops between the servers
    and reports each one's CPU per handshake for every cycle."""
    with time_bound(120):
        result = e2e.run_paired(
            cycles=2,
            seconds=0.2,
            results_dir=tmp_path,
            targets=versus.HANDSHAKE_TARGETS,
            progress=lambda _message: None,
            handshakes=True,
        )
    assert result.error is None, result.error
    assert result.seed is not None
    assert set(result.cycles) == set(versus.HANDSHAKE_TARGETS)
    for cycles in result.cycles.values():
        assert len(cycles) == 2
        assert all(cycle["rate"] > 0 and cycle["server_us_per_op"] > 0 for cycle in cycles)


def test_the_scale_part_gives_every_scale_goal_a_figure(tmp_path: Path) -> None:
    """Tiny: every row of the at-rest and fan-out goals has a figure and a verdict."""
    tiny = versus.ScaleSettings(
        idle=20, window=0.2, idle_rounds=1, clients=20, room=10, rounds=1, rate=10.0, seconds=0.2
    )
    with time_bound(240):
        rows, figures, notes = versus.scale_rows(tiny, tmp_path / "scale.log")
    assert notes == []
    assert len(rows) == len(versus.SCALE_GOALS)
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[2] != "n/a", row
        assert cells[4] in {"✅", "❌"}, row
    assert set(figures) == {"idle", "fanout", "room"}


def test_the_paired_slice_order_puts_every_target_behind_every_other() -> None:
    """The order changes per cycle: over 60 cycles of 4 targets each target runs right after
    each other target (within a cycle) and in every position, and a seed gives its order
    again. (The old fixed rotation put each target behind one neighbour only.)"""
    orders = loadclient.slice_orders(4, 60, seed=7)
    assert orders == loadclient.slice_orders(4, 60, seed=7)
    assert orders != loadclient.slice_orders(4, 60, seed=8)
    assert all(sorted(order) == [0, 1, 2, 3] for order in orders)
    followed = {(order[i - 1], order[i]) for order in orders for i in range(1, 4)}
    assert followed == {(a, b) for a in range(4) for b in range(4) if a != b}
    for target in range(4):
        assert {order.index(target) for order in orders} == {0, 1, 2, 3}

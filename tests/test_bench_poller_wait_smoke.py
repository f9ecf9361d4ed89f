"""``python -m bench.poller_wait`` still runs (tiny: a smoke run, no timing asserted)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bench import poller_wait
from tests._time_bound import time_bound

if TYPE_CHECKING:
    import pytest


def test_both_ways_of_waiting_are_measured(capsys: pytest.CaptureFixture[str]) -> None:
    with time_bound(60):
        assert poller_wait.main(["--rounds", "1", "--exchanges", "400"]) == 0
    rows = {
        match[1]: (float(match[2]), float(match[3]))
        for match in re.finditer(
            r"^\| ([^|]+) \| ([\d.]+) \| ([\d.]+) \|$", capsys.readouterr().out, re.M
        )
    }
    assert set(rows) == set(poller_wait.WAYS)
    assert all(one > 0 and fifty > 0 for one, fifty in rows.values())

"""An oversize message is refused without the server buffering it (measured in a subprocess)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "oversize_rss.py"
MiB = 2**20


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("oversize_rss", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/status")
def test_64_mib_frame_against_1_mib_limit_stays_within_2x_limit_plus_1_mib(
    tmp_path: Path,
) -> None:
    """A 64 MiB frame gets 1009 and the server's peak RSS grows by at most 2 x 1 MiB + 1 MiB.

    (Plain hypercorn 0.18 grows by the whole frame: +64 MiB here, +256 MiB for 256 MiB; see
    ``bench/oversize_rss.py``.)
    """
    growth, code = _bench().measure("trio_ws", 64 * MiB, 1 * MiB, tmp_path)
    assert code == 1009
    assert growth <= 3 * MiB, f"peak RSS grew by {growth / MiB:.1f} MiB"

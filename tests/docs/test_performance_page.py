"""The performance page shows the benchmark tables of bench/README.md, unchanged."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = re.compile(r"<!-- results:start -->.*?<!-- results:end -->", re.DOTALL)


def test_the_performance_page_has_the_latest_benchmark_tables() -> None:
    """docs/performance.md's results block is bench/README.md's, character for character."""
    bench = RESULTS.search((ROOT / "bench" / "README.md").read_text())
    page = RESULTS.search((ROOT / "docs" / "performance.md").read_text())
    assert bench is not None
    assert page is not None, "docs/performance.md lost its <!-- results:start/end --> block"
    assert page[0] == bench[0], "copy bench/README.md's results block into docs/performance.md"

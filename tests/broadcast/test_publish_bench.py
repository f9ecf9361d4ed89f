"""bench.broadcast_publish still runs: its parts, tiny, print their tables with real figures.

No timing is asserted (speed is judged by the benchmark itself, never in unit tests). Every
wait of the bench is bounded: the chat round by ``CHAT_ROUND_TIMEOUT`` (lowered here), the
server processes by their start and stop timeouts.
"""

# The bench's tables print × and µs on purpose.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import re
import shutil

import pytest

from tests._time_bound import time_bound

bench = pytest.importorskip("bench.broadcast_publish")
pytest.importorskip("psutil", reason="the chat part samples the server's CPU (bench extra)")

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


def test_the_sequential_and_chat_parts_print_before_after_and_the_goal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench, "CHAT_ROUND_TIMEOUT", 30.0)
    with time_bound(240):
        bench.main(["--parts", "sequential,chat,tasks", "--count", "200", "--chat-count", "100",
                    "--rounds", "1", "--tasks", "1", "10"])  # fmt: skip
    out = capsys.readouterr().out
    sequential = re.search(r"\| redis \| ([\d,]+)/s \| ([\d,]+)/s \| \d+\.\d× \|", out)
    assert sequential is not None, out
    assert re.search(r"\| memory \| [\d,]+/s \| [\d,]+/s \|", out)
    assert re.search(r"Goal: ≥ 10,000 messages/s from one process to one Redis: (met|missed)", out)
    row = r"\| (memory|redis) \| (before|after): .*? \| ([\d,]+) \| ([\d,]+) µs \|"
    chat_rows = re.findall(row, out)
    assert len(chat_rows) == 4, out
    assert all(int(rate.replace(",", "")) > 0 for *_, rate, _ in chat_rows)
    assert re.search(r"Redis after/before: \d+\.\d× the messages/s", out)
    assert re.search(r"\| 10 \| [\d,]+ \|", out)

"""The first example of docs/broadcast.md runs and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "broadcast.md"


def test_the_opening_example_of_the_broadcast_page_runs() -> None:
    first_block = re.search(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert first_block is not None
    output = io.StringIO()
    with contextlib.redirect_stdout(output):  # in memory, no network: it runs trio.run itself
        exec(compile(first_block.group(1), str(DOC), "exec"), {"__name__": "docs_example"})
    assert output.getvalue().splitlines() == ["room hello", 'room {"n":1}', "{'n': 1}"]

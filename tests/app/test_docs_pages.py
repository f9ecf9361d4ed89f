"""The application-layer docs pages: their Python examples parse, and the names they use exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import trio_ws
from trio_ws import _limits

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ["security.md", "integrations.md"]
FENCE = re.compile(r"```python\n(.*?)```", re.S)


@pytest.mark.parametrize("page", PAGES)
def test_python_examples_parse(page: str) -> None:
    blocks = FENCE.findall((DOCS / page).read_text())
    assert blocks, f"{page} has no python examples"
    for block in blocks:
        ast.parse(block)


@pytest.mark.parametrize("page", PAGES)
def test_trio_ws_names_in_the_page_exist(page: str) -> None:
    """Every ``trio_ws.<name>`` a page mentions is public (adopt and Broadcast come from the
    core and broadcast branches)."""
    names = set(re.findall(r"trio_ws\.([A-Za-z_]+)", (DOCS / page).read_text()))
    pending = {"adopt", "Broadcast"}
    missing = {name for name in names - pending if name not in trio_ws.__all__}
    missing -= {"serve", "testing"}  # modules and the serve function, also public
    assert not missing, missing


def test_security_page_lists_each_limit_with_its_close_code() -> None:
    text = (DOCS / "security.md").read_text()
    for option, code in [
        ("max_message_size", str(_limits.MESSAGE_TOO_BIG_CODE)),
        ("rate_limit", str(_limits.RATE_LIMIT_CODE)),
        ("first_message_timeout", str(_limits.FIRST_MESSAGE_TIMEOUT_CODE)),
        ("idle_timeout", str(_limits.IDLE_TIMEOUT_CODE)),
        ("accept_timeout", "403"),
    ]:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{option}"))
        assert code in row, (option, row)

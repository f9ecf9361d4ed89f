"""The documentation's examples run.

The convention (docs/index.md, "Examples that run"): a fenced ```python block directly preceded
by the line ``<!-- run -->`` is executed by this test. The runnable blocks of one page run in
order in one namespace, so a later block may use what an earlier one defined (an ``app``, say).
A block runs its async code the way a reader would, with ``trio.run(main)``; while the page runs,
every ``trio.run`` is bounded by ``trio.fail_after``, and the assertions in the example are its
checks. Blocks without the marker are shown, not run (shell commands, fragments, servers that
run forever).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

DOCS = Path(__file__).resolve().parents[2] / "docs"
MARKER = "<!-- run -->"
FENCE = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
# Pages whose examples the site promises to run: each must have at least one runnable block.
PAGES_WITH_RUNNABLE_EXAMPLES = [
    "index.md",
    "getting-started.md",
    "websocket.md",
    "structured.md",
    "cancellation.md",
    "backpressure.md",
    "testing.md",
]
RUN_TIMEOUT = 10


def runnable_blocks(page: Path) -> list[tuple[int, str]]:
    """(line number, source) of each block of ``page`` marked ``<!-- run -->``.

    Raises:
        ValueError: if a marker is not followed, on the next line, by a ```python fence.
    """
    text = page.read_text()
    blocks = []
    for marker in re.finditer(re.escape(MARKER) + r"[ \t]*\n", text):
        fence = FENCE.match(text, marker.end())
        if fence is None:
            line = text.count("\n", 0, marker.start()) + 1
            raise ValueError(f"{page.name}:{line}: {MARKER} must be followed by a ```python block")
        blocks.append((text.count("\n", 0, fence.start()) + 2, fence[1]))
    return blocks


def pages_with_examples() -> list[Path]:
    return sorted(page for page in DOCS.glob("*.md") if MARKER in page.read_text())


@pytest.mark.parametrize("page", pages_with_examples(), ids=lambda page: page.name)
def test_the_page_examples_run(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every runnable block of the page executes, its ``trio.run`` calls bounded in time."""
    unbounded_run = trio.run

    def bounded_run(fn: Callable[..., Awaitable[Any]], *args: Any, **options: Any) -> Any:
        async def within_timeout() -> Any:
            with trio.fail_after(RUN_TIMEOUT):
                return await fn(*args)

        return unbounded_run(within_timeout, **options)

    monkeypatch.setattr(trio, "run", bounded_run)
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for line, source in runnable_blocks(page):
        exec(compile(source, f"{page}:{line}", "exec"), namespace)


@pytest.mark.parametrize("name", PAGES_WITH_RUNNABLE_EXAMPLES)
def test_the_page_has_runnable_examples(name: str) -> None:
    """The guide pages carry at least one example that this module runs."""
    assert runnable_blocks(DOCS / name), f"docs/{name} has no block marked {MARKER}"


def test_a_marker_without_a_python_block_is_an_error(tmp_path: Path) -> None:
    """A stray marker is reported with its line, not silently skipped."""
    page = tmp_path / "page.md"
    page.write_text("text\n<!-- run -->\n\n```python\npass\n```\n")
    with pytest.raises(ValueError, match=r"page\.md:2"):
        runnable_blocks(page)


def test_marked_blocks_are_found_with_their_line_numbers(tmp_path: Path) -> None:
    """Only marked blocks are collected, with the line of their first source line."""
    page = tmp_path / "page.md"
    page.write_text("```python\nshown = 1\n```\n<!-- run -->\n```python\nrun = 2\n```\n")
    assert runnable_blocks(page) == [(6, "run = 2\n")]

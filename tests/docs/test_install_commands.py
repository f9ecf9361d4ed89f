"""Every install command in the docs and the README is one that works.

trio_ws is not published, so ``pip install trio-ws`` finds nothing. Each ``pip install`` in
``docs/*.md`` and ``README.md`` (in a fenced block or inline code, even one broken over two
lines) must install trio_ws from a path (``.``, ``-e .``, ``/path/to/trio_ws``), name only
extras that ``pyproject.toml`` defines, and sit on a page that says the package is not on PyPI
yet (or that it installs from a checkout). The README's test command itself is run word for
word by CI (``tests/test_readme.py``). The extras table of the install section lists every
extra.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXTRAS = set(
    tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
)
FENCED = re.compile(r"^```[\w-]*\n(.*?)^```$", re.DOTALL | re.MULTILINE)
INLINE = re.compile(r"`([^`\n]+(?:\n[^`\n]+)?)`")
# The names trio_ws would have on an index; none of them is published yet.
UNPUBLISHED = {"trio-ws", "trio_ws", "trio.ws"}
# A page that installs trio_ws says where from: "not on PyPI yet", or "from a checkout".
NOT_ON_PYPI = re.compile(r"not (?:on|published to) PyPI|from a checkout", re.IGNORECASE)


def code_spans(text: str) -> list[str]:
    """The text of every fenced block and inline code span, with line breaks as spaces."""
    spans = list(FENCED.findall(text))
    outside = FENCED.sub("", text)
    spans.extend(span.replace("\n", " ") for span in INLINE.findall(outside))
    return spans


def install_commands(text: str) -> list[list[str]]:
    """The arguments after each ``pip install`` in ``text``'s code, up to ``&&``, ``;``, ``|``
    or a comment."""
    commands = []
    for span in code_spans(text):
        for line in span.splitlines():
            for match in re.finditer(r"\bpip3? install\b(.*)", line):
                rest = re.split(r"\s(?:&&|;|\||#)", match[1] + " ", maxsplit=1)[0]
                commands.append(shlex.split(rest))
    return commands


def requirements(arguments: list[str]) -> list[str]:
    """The requirement arguments of one ``pip install`` (options dropped, ``-e X`` kept)."""
    found = []
    take_next = False
    for argument in arguments:
        if take_next or not argument.startswith("-"):
            found.append(argument)
            take_next = False
        elif argument in ("-e", "--editable"):
            take_next = True
    return found


def problems(requirement: str) -> list[str]:
    """What is wrong with one requirement of an install command; ``[]`` if it works."""
    target, _, extras = requirement.partition("[")
    is_path = target.startswith((".", "/", "~")) or "/" in target or target.endswith(".whl")
    found = []
    if not is_path and target.lower() in UNPUBLISHED:
        found.append(f"{requirement!r} names trio_ws on an index, where it is not published")
    elif not is_path:
        return []  # another project's package from PyPI
    for extra in filter(None, extras.rstrip("]").split(",")):
        if extra.strip() not in EXTRAS:
            found.append(f"{requirement!r}: pyproject.toml has no extra {extra.strip()!r}")
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_install_command_installs_from_a_path_with_known_extras(page: Path) -> None:
    text = page.read_text()
    commands = install_commands(text)
    found = [p for command in commands for r in requirements(command) for p in problems(r)]
    assert found == [], f"{page.name}: {found}"
    if commands and page.name != "README.md":  # the README installs from its own checkout
        assert NOT_ON_PYPI.search(text), (
            f"{page.name} installs trio_ws but never says it is not on PyPI yet"
        )


def test_the_pages_that_install_are_found() -> None:
    """The scan sees the commands it must check (an empty scan would pass anything)."""
    pages = {page.name for page in PAGES if install_commands(page.read_text())}
    assert {
        "README.md",
        "index.md",
        "getting-started.md",
        "broadcast.md",
        "integrations.md",
    } <= pages


def test_the_install_section_lists_every_extra() -> None:
    """The extras table in docs/index.md has one row per extra of pyproject.toml."""
    section = (
        (ROOT / "docs" / "index.md").read_text().split("## Install", 1)[1].split("\n## ", 1)[0]
    )
    listed = set(re.findall(r"^\| `([\w-]+)` \|", section, re.MULTILINE))
    assert listed == EXTRAS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "```sh\npython3 -m venv .venv && .venv/bin/python -m pip install trio-ws\n```\n",
            ["names trio_ws"],
        ),
        ("Run `pip install\n'trio-ws[redis]'` first.", ["names trio_ws"]),
        ("```sh\npip install -e '.[nosuchextra]'  # comment\n```\n", ["no extra 'nosuchextra'"]),
        ("```sh\npip install -e '.[redis,testing]' && pytest\n```\n", []),
        ("`pip install '/path/to/trio_ws[starlette]'`", []),
        ("```sh\npip install -U pip build\n```\n", []),
    ],
)
def test_the_checker_tells_good_commands_from_bad(text: str, expected: list[str]) -> None:
    """The rules catch what the docs used to say, and accept what they say now."""
    found = [
        p for command in install_commands(text) for r in requirements(command) for p in problems(r)
    ]
    assert len(found) == len(expected)
    for problem, fragment in zip(found, expected, strict=True):
        assert fragment in problem


def test_ci_installs_the_testing_pages_extras_alone_and_runs_the_docs_examples() -> None:
    """The testing page's install command is what CI runs in a virtual environment of its own
    before running every docs example there, so a missing extra fails CI."""
    page = (ROOT / "docs" / "testing.md").read_text()
    [command] = [c for c in install_commands(page) if any("testing" in r for r in requirements(c))]
    ci = (ROOT / ".ci" / "run").read_text()
    installs = re.findall(r"^(\S+)/bin/python -m pip install -q (.+)$", ci, re.MULTILINE)
    venvs = [venv for venv, args in installs if shlex.split(args) == command]
    assert venvs, f".ci/run never installs {command}"
    assert f"{venvs[0]}/bin/python -m pytest" in ci
    assert "tests/docs/test_docs_examples.py" in ci

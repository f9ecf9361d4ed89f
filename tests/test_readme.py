"""README.md keeps exactly two set-up commands that work without touching the system Python,
and CI runs the test one word for word."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_PREFIX = "python3 -m venv .venv && .venv/bin/python -m pip install -e "


def setup_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_the_readme_has_exactly_two_setup_commands() -> None:
    """One command starts the demo, one runs the tests."""
    commands = setup_commands()
    assert len(commands) == 2, commands
    assert commands[0].endswith(" -m examples.chat")
    assert commands[1].endswith(" -m pytest")


def test_setup_commands_install_into_a_fresh_virtual_environment() -> None:
    """Both create .venv and use its interpreter, so PEP 668 systems accept them."""
    for command in setup_commands():
        assert command.startswith(VENV_PREFIX), command
        steps = command.split(" && ")
        assert all(step.startswith((".venv/bin/", "python3 -m venv ")) for step in steps), steps


def test_the_demo_command_names_a_module_of_this_repository() -> None:
    """The module the demo command runs exists (a package or a module file)."""
    target = re.search(r"\b(examples\.[\w.]+)", setup_commands()[0])
    assert target is not None
    path = ROOT.joinpath(*target[1].split("."))
    assert path.with_suffix(".py").is_file() or (path / "__main__.py").is_file(), path


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run contains the README's test command verbatim, on a line of its own."""
    test_command = setup_commands()[1]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines

"""Automation: the test matrix, lint, typing and the benchmarks.

``nox`` runs the default sessions (tests on every Python that is installed, lint, typing);
``nox -s bench`` runs the benchmarks, which are never part of CI.
"""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = False  # skip interpreters this machine lacks
nox.options.sessions = ["tests", "lint", "typing"]

PYTHONS = ["3.11", "3.12", "3.13"]
PYTHON_FILES = ["trio_ws", "tests", "examples", "noxfile.py", "bench"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite; extra arguments go to pytest (``nox -s tests -- -k close``)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Ruff, with flake8-async's rules for trio hazards."""
    session.install("ruff>=0.8")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", *PYTHON_FILES)


@nox.session(python="3.11")
def typing(session: nox.Session) -> None:
    """mypy --strict over the package (configured in pyproject.toml)."""
    session.install("-e", ".[typing]")
    session.run("mypy")


@nox.session(python="3.11", default=False)
def bench(session: nox.Session) -> None:
    """The benchmarks (bench/README.md); ``nox -s bench -- --quick`` for the short run."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "bench", *session.posargs)


@nox.session(python="3.11", default=False)
def autobahn(session: nox.Session) -> None:
    """Autobahn|Testsuite's fuzzing client, all cases, against trio_ws.serve; fails on FAILED.

    Needs ``wstest`` (Python 2.7, docs/deployment.md): ``WSTEST=/path/to/wstest nox -s autobahn``;
    extra arguments go to ``autobahn/run.py`` (``-- --cases '1.*,2.*'``).
    """
    session.install("-e", ".")
    session.run("python", "autobahn/run.py", *session.posargs)

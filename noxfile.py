"""Automation: the test matrix, lint, typing, the docs site and the benchmarks.

``nox`` runs the default sessions (tests on every Python that is installed, tests against the
lowest supported versions, lint, typing, docs); ``nox -s bench`` runs the benchmarks, which are
never part of CI.
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from pathlib import Path

import nox
from packaging.version import Version

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = False  # skip interpreters this machine lacks
nox.options.sessions = ["tests", "tests-minimum", "lint", "typing", "docs"]

PYTHONS = ["3.11", "3.12", "3.13"]
PYTHON_FILES = ["trio_ws", "tests", "examples", "noxfile.py", "bench"]
PYPROJECT = Path(__file__).parent / "pyproject.toml"

# The libraries whose lowest supported version (the ">=" floor in pyproject.toml) tests-minimum
# installs. Test tools (pytest, hypothesis, ...) are left to float.
PYPROJECT_EXTRAS = set(tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"])
FLOORED = [
    "trio",
    "attrs",
    "hypercorn",
    "websockets",
    "coredis",
    "starlette",
    "fastapi",
    "prometheus_client",
]
# The extras tests-minimum installs, where pyproject.toml defines them.
MINIMUM_EXTRAS = ["test", "redis", "starlette", "metrics"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite; extra arguments go to pytest (``nox -s tests -- -k close``)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


def minimum_pins() -> list[str]:
    """``name==floor`` for each library of FLOORED that pyproject.toml gives a ``>=`` floor.

    Where two requirements (say an extra and the test extra) give one library different floors,
    the higher one is the lowest version a full install can have, so that one is pinned.
    """
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    floors: dict[str, str] = {}
    for requirement in requirements:
        match = re.match(r"\s*([A-Za-z0-9_.-]+)(?:\[[^]]*\])?\s*>=\s*([^,;\s]+)", requirement)
        if match is None or match[1].lower() not in FLOORED:
            continue
        name, floor = match[1].lower(), match[2]
        if name not in floors or Version(floor) > Version(floors[name]):
            floors[name] = floor
    return [f"{name}=={floor}" for name, floor in sorted(floors.items())]


@nox.session(name="tests-minimum", python="3.11")
def tests_minimum(session: nox.Session) -> None:
    """The test suite against the lowest versions pyproject.toml claims to support."""
    extras = PYPROJECT_EXTRAS & set(MINIMUM_EXTRAS)
    pins = minimum_pins()
    session.install("-e", f".[{','.join(sorted(extras))}]", *pins)
    session.run("python", "-m", "pip", "freeze")  # the versions actually tested, in the log
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation site strictly (mkdocs.yml); offline: no CDN fonts or assets."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", env={"NO_MKDOCS_2_WARNING": "1"})


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

    ``wstest`` is a Python 2.7 program: unless ``WSTEST`` names one, the session installs it
    into ``.nox/wstest`` with the Python 2.7 interpreter it finds (``PYTHON2``, pyenv's 2.7.18, or
    ``python2.7`` on PATH). Extra arguments go to ``autobahn/run.py`` (``-- --cases '1.*,2.*'``).
    """
    session.install("-e", ".")
    wstest = os.environ.get("WSTEST") or _install_wstest(session)
    session.run("python", "autobahn/run.py", "--wstest", wstest, *session.posargs)


@nox.session(python="3.11", default=False)
def autobahn_client(session: nox.Session) -> None:
    """Autobahn|Testsuite's fuzzing server against trio_ws.connect; fails on FAILED.

    Sections 1-7 and 10 by default (about a minute); extra arguments go to
    ``autobahn/fuzzingserver.py`` (``-- --cases '12.*,13.*'`` for permessage-deflate).
    wstest is installed as for the ``autobahn`` session.
    """
    session.install("-e", ".")
    wstest = os.environ.get("WSTEST") or _install_wstest(session)
    session.run("python", "autobahn/fuzzingserver.py", "--wstest", wstest, *session.posargs)


def _install_wstest(session: nox.Session) -> str:
    prefix = Path(".nox", "wstest").resolve()
    wstest = prefix / "bin" / "wstest"
    if wstest.exists():
        return str(wstest)
    # pyenv's own 2.7 before PATH: pyenv's python2.7 shim fails unless 2.7 is selected.
    pyenv_python2 = Path.home() / ".pyenv" / "versions" / "2.7.18" / "bin" / "python"
    python2 = os.environ.get("PYTHON2") or (
        str(pyenv_python2) if pyenv_python2.exists() else shutil.which("python2.7")
    )
    if not python2:
        session.error("wstest needs Python 2.7: set PYTHON2, or WSTEST to an installed wstest")
    site = prefix / "lib" / "python2.7" / "site-packages"
    install = [python2, "-m", "pip", "install", "-q", "--prefix", str(prefix)]
    # The last releases that still install on Python 2 (newer PyHamcrest dropped it).
    session.run(*install, "setuptools==44.0.0", "wheel==0.37.1", external=True)
    session.run(
        *install,
        "PyHamcrest==1.10.1",
        "autobahntestsuite",
        external=True,
        env={"PYTHONPATH": str(site)},
    )
    return str(wstest)

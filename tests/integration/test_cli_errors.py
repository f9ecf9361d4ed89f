"""``python -m trio_ws`` reports an unusable command line in one line and exits non-zero."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

APP = "examples.echo:app"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trio_ws", APP, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--port", "99999"), "port must be 0-65535"),
        (("--max-message-size", "-5"), "max_message_size must be positive"),
        (("--host", "no-such-host.invalid"), "gaierror"),
    ],
    ids=["port-out-of-range", "negative-max-message-size", "unknown-host"],
)
def test_a_bad_option_is_one_line_and_a_failure(args: tuple[str, ...], expected: str) -> None:
    """A bad port, size or host: one line on stderr, no traceback, exit status 1."""
    result = run_cli(*args)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("trio_ws: cannot serve examples.echo:app")
    assert expected in lines[0]


def test_a_port_in_use_is_one_line_and_a_failure() -> None:
    """Binding a port another socket listens on: one line, exit status 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("--port", str(port))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Address already in use" in lines[0]

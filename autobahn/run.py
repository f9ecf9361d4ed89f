"""Run Autobahn|Testsuite's fuzzing client (all cases) against trio_ws.serve; fail on FAILED.

``python autobahn/run.py [--wstest PATH] [--cases 1.*,2.*]``

``wstest`` is Python 2 (autobahntestsuite); see docs/deployment.md for installing it. The
report goes to ``autobahn/reports/`` (git-ignored). Exit status: 0 when no case FAILED, 1
otherwise, 2 when wstest is missing or did not produce a report.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_WSTEST = str(HERE.parent / ".nox" / "wstest" / "bin" / "wstest")  # nox -s autobahn


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the echo server did not listen on port {port} within {timeout} s")


def find_wstest(path: str) -> str | None:
    """``path`` if it exists, else ``wstest`` on PATH; ``None`` (said on stderr) if neither."""
    wstest = path if os.path.exists(path) else shutil.which("wstest")
    if not wstest:
        print(f"wstest not found (tried {path} and PATH)", file=sys.stderr)
    return wstest


def fresh_reports(directory: Path) -> Path:
    """``directory``, resolved and emptied (made if missing), for one run's reports."""
    reports = directory.resolve()
    shutil.rmtree(reports, ignore_errors=True)
    reports.mkdir(parents=True)
    return reports


def _wstest_command(wstest: str) -> list[str]:
    """How to start ``wstest``: directly, or (installed with ``pip --prefix``) through its
    interpreter with the prefix's site-packages added as a site directory (zope's namespace
    package needs its ``.pth`` file processed, which ``PYTHONPATH`` does not do)."""
    prefix = Path(wstest).resolve().parent.parent
    site = prefix / "lib" / "python2.7" / "site-packages"
    if not site.is_dir():
        return [wstest]
    interpreter = Path(wstest).read_text().splitlines()[0].removeprefix("#!").strip()
    bootstrap = (
        f"import site, sys; site.addsitedir({str(site)!r}); sys.argv[0] = 'wstest'; "
        "from autobahntestsuite.wstest import run; run()"
    )
    return [interpreter, "-c", bootstrap]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wstest", default=os.environ.get("WSTEST", DEFAULT_WSTEST))
    parser.add_argument("--cases", default="*", help="comma-separated case patterns")
    parser.add_argument("--reports", type=Path, default=HERE / "reports", help="report directory")
    args = parser.parse_args()
    wstest = find_wstest(args.wstest)
    if not wstest:
        return 2
    port = _free_port()
    reports = fresh_reports(args.reports)
    spec = {
        "outdir": str(reports),
        "servers": [{"agent": "trio_ws", "url": f"ws://127.0.0.1:{port}"}],
        "cases": args.cases.split(","),
        "exclude-cases": [],
        "exclude-agent-cases": {},
    }
    spec_path = reports / "fuzzingclient.json"
    spec_path.write_text(json.dumps(spec))
    server = subprocess.Popen(
        [sys.executable, str(HERE / "echo_server.py"), str(port)],
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port, 20)
        subprocess.run(
            [*_wstest_command(wstest), "-m", "fuzzingclient", "-s", str(spec_path)],
            cwd=reports,
            check=False,
            stdout=subprocess.DEVNULL,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    index = reports / "index.json"
    if not index.exists():
        print("wstest produced no report", file=sys.stderr)
        return 2
    return verdict(next(iter(json.loads(index.read_text()).values())))


def verdict(results: dict[str, dict[str, str]], known: dict[str, str] | None = None) -> int:
    """Print a report's summary; 1 if a case FAILED (other than the ``known`` ones), else 0.

    ``known`` maps a case to why it fails for a reason outside our code; it is reported, and a
    line says when it passes again.
    """
    known = known or {}
    behaviours = Counter(result["behavior"] for result in results.values())
    closes = Counter(result["behaviorClose"] for result in results.values())
    print(f"{len(results)} cases: {dict(behaviours)}; close handshakes: {dict(closes)}")
    failing = {
        case
        for case, result in results.items()
        if "FAILED" in (result["behavior"], result["behaviorClose"])
    }
    for case, why in known.items():
        if case in failing:
            print(f"known: {case} FAILED: {why}")
        elif case in results:
            print(f"note: {case} passes now; remove it from the known failures")
    failed = sorted(failing - set(known))
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run Autobahn|Testsuite's fuzzing *server* against ``trio_ws.connect``; fail on FAILED.

``python autobahn/fuzzingserver.py [--wstest PATH] [--cases 1.*,2.*] [--exclude 9.*]``

wstest (Python 2; ``nox -s autobahn_client`` installs it, as ``nox -s autobahn`` does) listens
on 127.0.0.1 and a free port; `client.py` connects to it for every case. The report goes to
``autobahn/reports-client/`` (git-ignored). Exit status: 0 when no case FAILED, 1 otherwise,
2 when wstest is missing or produced no report.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from run import (
    DEFAULT_WSTEST,
    _free_port,
    _wait_for,
    _wstest_command,
    find_wstest,
    fresh_reports,
    verdict,
)

HERE = Path(__file__).resolve().parent
AGENT = "trio_ws-client"
#: Cases that fail for a reason outside our code; they are run and reported (`run.verdict`),
#: do not fail the run, and a line says so if one starts passing. None today: 7.1.5 (a close
#: frame between the fragments of a message) passes since the client relaxes websockets'
#: ``ClientProtocol`` as the engine relaxes ``ServerProtocol`` (``trio_ws/_ws_protocols.py``).
KNOWN: dict[str, str] = {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wstest", default=os.environ.get("WSTEST", DEFAULT_WSTEST))
    parser.add_argument("--cases", default="1.*,2.*,3.*,4.*,5.*,6.*,7.*,10.*")
    parser.add_argument("--exclude", default="", help="comma-separated case patterns")
    parser.add_argument("--reports", type=Path, default=HERE / "reports-client")
    args = parser.parse_args()
    wstest = find_wstest(args.wstest)
    if not wstest:
        return 2
    port = _free_port()
    reports = fresh_reports(args.reports)
    spec = {
        "url": f"ws://127.0.0.1:{port}",
        "outdir": str(reports),
        "cases": args.cases.split(","),
        "exclude-cases": [case for case in args.exclude.split(",") if case],
        "exclude-agent-cases": {},
    }
    spec_path = reports / "fuzzingserver.json"
    spec_path.write_text(json.dumps(spec))
    server = subprocess.Popen(
        # --webport 0: no report web server (its default port 8080 may be taken by another run).
        [*_wstest_command(wstest), "-m", "fuzzingserver", "-s", str(spec_path), "--webport", "0"],
        cwd=reports,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port, 30)
        subprocess.run(
            [sys.executable, str(HERE / "client.py"), f"ws://127.0.0.1:{port}", AGENT],
            check=False,
            timeout=3600,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    index = reports / "index.json"
    if not index.exists():
        print("wstest produced no report", file=sys.stderr)
        return 2
    return verdict(json.loads(index.read_text())[AGENT], KNOWN)


if __name__ == "__main__":
    sys.exit(main())

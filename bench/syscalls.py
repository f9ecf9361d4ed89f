"""System calls per round trip (or per handshake), by server:
``python -m bench.syscalls [--targets a,b,...] [--scenario rt50_32|handshake]``.

Each target runs alone (``python -m bench.server TARGET``); ``strace -c -f`` is attached to it
while the load client drives 50 connections x 32 B round trips for ``--duration`` seconds, and
the counts are divided by the round trips made. strace slows the server a lot, so the rates
here mean nothing; the counts per round trip are the point (where the time goes besides
Python: a blocked ``recv`` on Trio costs a failed syscall and an ``epoll_ctl``, uvloop keeps
its registrations). Needs ``strace`` and ptrace permission.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .e2e import Server, run_client

DEFAULT_TARGETS = ("uvicorn", "websockets-uvloop", "raw@serve", "direct@serve", "structured@serve")
#: What ``--scenario`` counts per: the load client's scenario and its unit of work.
SCENARIOS = {"rt50_32": "round trip", "handshake": "handshake"}
ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$")


def parse_strace_summary(text: str) -> dict[str, tuple[int, int]]:
    """``{syscall: (calls, errors)}`` from ``strace -c`` output."""
    counts: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        match = ROW.match(line)
        if match and match[3] != "total":
            counts[match[3]] = (int(match[1]), int(match[2] or 0))
    return counts


def measure(
    target: str, duration: float, log: Path, scenario: str = "rt50_32"
) -> tuple[int, dict[str, tuple[int, int]]]:
    """Operations of ``scenario`` made under strace, and the server's syscall counts over that
    window."""
    with Server(target, log) as server, tempfile.NamedTemporaryFile("r") as out:
        assert server.proc is not None
        tracer = subprocess.Popen(
            ["strace", "-c", "-f", "-o", out.name, "-p", str(server.proc.pid)],
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # attached
        try:
            result = run_client(server, (scenario,), duration, count=10, idle=10)
        finally:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(30)
        ops = int(result[scenario].get("ops", 0))
        return ops, parse_strace_summary(Path(out.name).read_text())


def table(rows: dict[str, tuple[int, dict[str, tuple[int, int]]]], unit: str = "round trip") -> str:
    def most(name: str) -> float:
        return max(c.get(name, (0, 0))[0] / max(o, 1) for o, c in rows.values())

    names = sorted({name for _, counts in rows.values() for name in counts}, key=most, reverse=True)
    names = [name for name in names if most(name) >= 0.05]
    lines = [
        f"| syscall per {unit} | " + " | ".join(rows) + " |",
        "|---|" + "---|" * len(rows),
    ]
    for name in names:
        cells = []
        for ops, counts in rows.values():
            calls, errors = counts.get(name, (0, 0))
            cell = f"{calls / max(ops, 1):.2f}"
            if errors:
                cell += f" ({errors / max(ops, 1):.2f} failed)"
            cells.append(cell)
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    totals = [sum(c[0] for c in counts.values()) / max(ops, 1) for ops, counts in rows.values()]
    lines.append("| **total** | " + " | ".join(f"**{t:.2f}**" for t in totals) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.syscalls", description=__doc__)
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS))
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="rt50_32",
        help="rt50_32: 50 connections x 32 B round trips; handshake: open, close, repeat",
    )
    args = parser.parse_args(argv)
    if shutil.which("strace") is None:
        print("strace is not installed", file=sys.stderr)
        return 1
    log = Path(__file__).resolve().parent / "results" / "servers.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    rows = {}
    for target in (t for t in args.targets.split(",") if t):
        rows[target] = measure(target, args.duration, log, args.scenario)
    print(table(rows, SCENARIOS[args.scenario]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

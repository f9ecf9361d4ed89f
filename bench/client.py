"""Client CPU per message: trio_ws's client against websockets' Trio client and trio-websocket.

``python -m bench.client [--rounds 5] [--round-trips 400] [--server raw@serve]``

One echo server (``bench.server``; default ``trio_ws.serve`` with the raw ASGI echo) serves
every run. Each run is one client process (``bench.client_load``): 50 connections, each making
``--round-trips`` sequential 32-byte round trips; its CPU time over the window is divided by
the round trips. The targets are interleaved (the order rotates each round) so that the machine's
noise falls on all of them alike; the report gives the median of each and its ratio to
trio_ws's client, and whether the goal (websockets' Trio client >= 1.5x trio_ws's CPU per
message) is met.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

from .client_load import TARGETS

GOAL = 1.5


def _start_server(target: str) -> tuple[subprocess.Popen[str], int]:
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.server", target],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    for line in server.stdout:
        if line.startswith("PORT "):
            return server, int(line.split()[1])
    server.kill()
    raise SystemExit(f"bench.server {target} did not announce a port")


def _run_client(target: str, port: int, round_trips: int) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.client_load", target, str(port), str(round_trips)],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--round-trips", type=int, default=400, help="per connection, per run")
    parser.add_argument("--server", default="raw@serve", help="a bench.server target")
    args = parser.parse_args()
    server, port = _start_server(args.server)
    samples: dict[str, list[float]] = {target: [] for target in TARGETS}
    try:
        for round_number in range(args.rounds):
            shift = round_number % len(TARGETS)
            for target in TARGETS[shift:] + TARGETS[:shift]:
                result = _run_client(target, port, args.round_trips)
                samples[target].append(result["cpu_us_per_round_trip"])
                print(
                    f"round {round_number + 1}: {target:16} "
                    f"{result['cpu_us_per_round_trip']:7.1f} us/round trip "
                    f"({result['wall_s']:.2f} s wall)",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(timeout=10)
    medians = {target: statistics.median(values) for target, values in samples.items()}
    base = medians["trio_ws"]
    print(f"\nclient CPU per 32 B round trip, 50 connections, median of {args.rounds} runs:")
    for target in TARGETS:
        print(f"  {target:16} {medians[target]:7.1f} us   {medians[target] / base:5.2f}x trio_ws")
    ratio = medians["websockets-trio"] / base
    verdict = "met" if ratio >= GOAL else "MISSED"
    print(f"goal: websockets-trio / trio_ws >= {GOAL}: {ratio:.2f} ({verdict})")
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())

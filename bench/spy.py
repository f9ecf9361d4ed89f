"""End-to-end attribution with py-spy: where a server's CPU per round trip goes.

``python -m bench.spy [--targets raw,direct,structured] [--seconds 5]`` starts each target's
server, drives it with the load client's ``rt50_32`` scenario, samples the server with
``py-spy record --nonblocking`` meanwhile, and splits the server's CPU per round trip into:

- **hypercorn + wsproto + h11**: the innermost owner frame is the server's code;
- **trio_ws** (and what it calls in trio directly: cancel scopes, locks, parking lots), with
  the **shield** (``CancelScope`` enter/exit under trio_ws) shown separately;
- **app**: the benchmark's application code (``bench/apps.py``, ``bench/prototypes.py``);
- **trio runtime and I/O**: the rest (scheduler, epoll, socket calls made by trio itself).

Each sample goes to the innermost frame, walking from the leaf towards the root, that belongs
to one of the first three groups; samples with none go to the runtime. Shares times the
measured server µs per round trip give µs per round trip.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from .e2e import ROOT, Server

GROUPS = ("hypercorn + wsproto + h11", "trio_ws", "of which: shield", "app", "trio runtime + I/O")


def owner(stack: list[str]) -> tuple[str, bool]:
    """The group of one sample (frames root → leaf), and whether it is a trio_ws shield."""
    for depth in range(len(stack) - 1, -1, -1):
        frame = stack[depth]
        if "hypercorn/" in frame or "wsproto/" in frame or "h11/" in frame:
            return "hypercorn + wsproto + h11", False
        if "trio_ws/" in frame:
            below = stack[depth + 1 :]
            shield = any(
                "trio/_core/_run.py" in f and ("__enter__" in f or "_close" in f or "__exit__" in f)
                for f in below
            )
            return "trio_ws", shield
        if "bench/apps.py" in frame or "bench/prototypes.py" in frame:
            return "app", False
    return "trio runtime + I/O", False


def attribute(raw_file: Path) -> dict[str, float]:
    """Shares of the samples per group, from a py-spy ``--format raw`` file."""
    counts: Counter[str] = Counter()
    total = 0
    for line in raw_file.read_text().splitlines():
        stack_text, _, n_text = line.rpartition(" ")
        if not stack_text:
            continue
        n = int(n_text)
        group, shield = owner(stack_text.split(";"))
        counts[group] += n
        if shield:
            counts["of which: shield"] += n
        total += n
    return {group: counts[group] / max(total, 1) for group in GROUPS}


def profile_target(target: str, seconds: float, workdir: Path) -> tuple[float, dict[str, float]]:
    """Server µs per round trip (unsampled window) and the group shares (sampled window)."""
    log = workdir / "servers.log"
    out = workdir / f"{target}.txt"
    with Server(target, log) as server:
        assert server.proc is not None
        client = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.loadclient",
                f"--port={server.port}",
                f"--server-pid={server.proc.pid}",
                "--scenarios=rt50_32,rt50_32",
                f"--duration={seconds}",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        # The first window runs unsampled; sample during the second one.
        time.sleep(seconds + 2.0)
        subprocess.run(
            [
                "py-spy",
                "record",
                "--nonblocking",
                "--pid",
                str(server.proc.pid),
                "--duration",
                str(max(1, int(seconds) - 1)),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(out),
            ],
            capture_output=True,
            timeout=seconds + 60,
            check=True,
        )
        stdout, _ = client.communicate(timeout=seconds * 4 + 120)
    first = json.loads(stdout.strip().splitlines()[-1])["rt50_32"]
    return float(first["server_us_per_op"]), attribute(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", default="raw,direct,structured,proto-direct")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved; medians reported")
    args = parser.parse_args()
    if shutil.which("py-spy") is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    print("### Server CPU per 32 B round trip, 50 connections, by owner (py-spy)\n")
    print("| target | server µs / rt | " + " | ".join(GROUPS) + " |")
    print("|---|---|" + "---|" * len(GROUPS))
    targets = args.targets.split(",")
    per_rt: dict[str, list[float]] = {t: [] for t in targets}
    per_group: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for target in targets[r % len(targets) :] + targets[: r % len(targets)]:
                us, shares = profile_target(target, args.seconds, Path(tmp))
                per_rt[target].append(us)
                for group in GROUPS:
                    per_group.setdefault((target, group), []).append(shares[group] * us)
            print(f"(round {r + 1}/{args.rounds} done)", file=sys.stderr, flush=True)
    for target in targets:
        cells = [f"{statistics.median(per_group[target, g]):.0f}" for g in GROUPS]
        us = statistics.median(per_rt[target])
        print(f"| {target} | {us:.0f} | " + " | ".join(cells) + " |", flush=True)
    print(f"\nµs per round trip, medians of {args.rounds} interleaved rounds.")


if __name__ == "__main__":
    main()

"""End to end over loopback: each target in its own server process, driven by the load client.

For every round and every target (the order rotates each round) this starts
``python -m bench.server TARGET`` on 127.0.0.1:0, runs ``python -m bench.loadclient`` with all
scenarios against it (``memory`` first, on the fresh server), and stops the server. The server's
stderr is kept; application errors that hypercorn logs and swallows are counted and reported.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .apps import unavailable_reason
from .loadclient import SCENARIOS
from .server import (
    ASGI_TARGETS,
    PEER_TARGETS,
    PROTOTYPE_TARGETS,
    SERVE_TARGETS,
    TARGETS,
    baseline,
    peer_unavailable_reason,
)

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parent.parent
#: A target named ``NAME+base`` is ``NAME`` served from another copy of the tree (the code
#: before a change: ``git archive <commit> | tar -x -C DIR``), named by this variable, so that
#: before and after are measured in the same interleaved run (``bench.versus --base DIR``).
BASE_TREE_VARIABLE = "TRIO_WS_BENCH_BASE"
BASE_SUFFIX = "+base"


def split_base(target: str) -> tuple[str, Path]:
    """``(target without +base, the tree it is served from)``.

    Raises:
      RuntimeError: a ``+base`` target without ``TRIO_WS_BENCH_BASE`` set.
    """
    if not target.endswith(BASE_SUFFIX):
        return target, ROOT
    base = os.environ.get(BASE_TREE_VARIABLE)
    if not base:
        raise RuntimeError(f"{target}: set {BASE_TREE_VARIABLE} to the baseline tree")
    return target.removesuffix(BASE_SUFFIX), Path(base)


@dataclass
class E2EResult:
    """All samples by ``(target, scenario)``: one result dict per round."""

    samples: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    errors: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    server_errors: dict[str, int] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    def median(self, target: str, scenario: str, key: str) -> float | None:
        values = [s[key] for s in self.samples.get((target, scenario), []) if key in s]
        return statistics.median(values) if values else None


def unavailable(target: str) -> str | None:
    target = target.removesuffix(BASE_SUFFIX)
    if target in PROTOTYPE_TARGETS:
        return None
    if target in ASGI_TARGETS:
        return unavailable_reason(target)
    if target in SERVE_TARGETS:
        return unavailable_reason(target.removesuffix("@serve"))
    return peer_unavailable_reason(target)


class Server:
    """A benchmark server subprocess; a context manager that always stops it."""

    def __init__(self, target: str, log: Path) -> None:
        self.target = target
        self.log = log
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> Server:
        self.stderr = self.log.open("a")
        self.stderr.write(f"\n===== {self.target} =====\n")
        self.stderr.flush()
        target, tree = split_base(self.target)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.server", target],
            cwd=tree,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env={**os.environ, "PYTHONPATH": str(tree)},
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("PORT "):
                self.port = int(line.split()[1])
                return self
            if not line and self.proc.poll() is not None:
                break
        self.__exit__()
        raise RuntimeError(f"server {self.target} did not start; see {self.log}")

    def __exit__(self, *exc_info: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.close()


def run_client(
    server: Server, scenarios: tuple[str, ...], duration: float, count: int, idle: int
) -> dict[str, Any]:
    assert server.proc is not None
    budget = len(scenarios) * (duration * 4 + 60) + 30
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.loadclient",
            f"--port={server.port}",
            f"--server-pid={server.proc.pid}",
            f"--scenarios={','.join(scenarios)}",
            f"--duration={duration}",
            f"--count={count}",
            f"--idle={idle}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=budget,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"load client failed: {completed.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def count_server_errors(log: Path, since: int) -> int:
    text = log.read_text()[since:]
    return text.count("Error in ASGI Framework") + text.count("Traceback (most recent call last)")


def run(
    *,
    rounds: int,
    duration: float,
    count: int,
    idle: int,
    results_dir: Path,
    targets: tuple[str, ...] = TARGETS,
    scenarios: tuple[str, ...] = SCENARIOS,
    progress: Callable[[str], None] = print,
) -> E2EResult:
    """Interleave the targets in every round and keep every sample."""
    result = E2EResult()
    runnable = []
    for target in targets:
        reason = unavailable(target)
        if reason is None:
            runnable.append(target)
        else:
            result.unavailable[target] = reason
    scenarios = tuple(s for s in SCENARIOS if s in scenarios)  # memory first
    results_dir.mkdir(parents=True, exist_ok=True)
    log = results_dir / "servers.log"
    log.write_text("")
    for r in range(rounds):
        order = runnable[r % len(runnable) :] + runnable[: r % len(runnable)]
        for target in order:
            since = len(log.read_text())
            try:
                with Server(target, log) as server:
                    outcome = run_client(server, scenarios, duration, count, idle)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                outcome = {s: {"error": str(exc)[:300]} for s in scenarios}
            for scenario, sample in outcome.items():
                if "error" in sample:
                    result.errors.setdefault((target, scenario), []).append(sample["error"])
                else:
                    result.samples.setdefault((target, scenario), []).append(sample)
            errors = count_server_errors(log, since)
            if errors:
                result.server_errors[target] = result.server_errors.get(target, 0) + errors
            progress(f"e2e round {r + 1}/{rounds}: {target} done")
    return result


@dataclass
class PairedResult:
    """Per-cycle samples by target from the paired 50 x 32 B run."""

    cycles: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    client_cpu_pct: float = 0.0
    seconds: float = 0.0
    error: str | None = None
    #: The seed of the slices' order (``bench.loadclient.slice_orders``): the same seed
    #: gives the same order again.
    seed: int | None = None

    def median(self, target: str, key: str) -> float | None:
        values = [c[key] for c in self.cycles.get(target, [])]
        return statistics.median(values) if values else None

    def paired_ratio(self, target: str) -> float | None:
        """Median over cycles of raw's server µs per round trip / the target's (raw on the
        same server: plain hypercorn, or trio_ws.serve for the ``@serve`` targets)."""
        raw, mine = self.cycles.get(baseline(target)), self.cycles.get(target)
        if not raw or not mine:
            return None
        return statistics.median(
            r["server_us_per_op"] / m["server_us_per_op"] for r, m in zip(raw, mine, strict=False)
        )


def run_paired(
    *,
    cycles: int,
    seconds: float,
    results_dir: Path,
    targets: tuple[str, ...] = TARGETS,
    progress: Callable[[str], None] = print,
    handshakes: bool = False,
    seed: int | None = None,
) -> PairedResult:
    """All targets' servers up at once; the client alternates 50 x 32 B load between them
    (with ``handshakes``, its open/close loops instead: ``server_us_per_op`` is per handshake).

    The slices run in a shuffled order per cycle, drawn from ``seed`` (random when ``None``;
    the seed used is on the result and in the progress line)."""
    runnable = [t for t in targets if unavailable(t) is None]
    results_dir.mkdir(parents=True, exist_ok=True)
    log = results_dir / "servers.log"
    result = PairedResult(seconds=seconds)
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(Server(t, log)) for t in runnable]
        command = [
            sys.executable,
            "-m",
            "bench.loadclient",
            ("--paired-handshakes=" if handshakes else "--paired=")
            + ",".join(str(s.port) for s in servers),
            "--pids=" + ",".join(str(s.proc.pid) for s in servers if s.proc is not None),
            f"--cycles={cycles}",
            f"--duration={seconds}",
        ]
        if seed is not None:
            command.append(f"--seed={seed}")
        budget = cycles * len(servers) * (seconds + (12 if handshakes else 2)) + 120
        completed = subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=budget,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=False,
        )
    if completed.returncode != 0:
        result.error = completed.stderr[-500:]
        return result
    data = json.loads(completed.stdout.strip().splitlines()[-1])
    for target, samples in zip(runnable, data["per_cycle"], strict=True):
        result.cycles[target] = samples
    result.client_cpu_pct = data["client_cpu_pct"]
    result.seed = data["seed"]
    progress(
        f"paired run: {cycles} cycles over {len(runnable)} servers done "
        f"(slice order seed {result.seed})"
    )
    return result


__all__ = ["PEER_TARGETS", "E2EResult", "PairedResult", "run", "run_paired"]

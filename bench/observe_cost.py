"""What observing the server costs per message: before/after the observation hooks.

Three servers run at once, each ``trio_ws.serve`` with a raw ASGI echo app (the thinnest app,
so the engine's per-message path is the largest share of the cost):

* ``before``: the tree at ``--base`` (default: the commit before the hooks), extracted with
  ``git archive`` into a temporary directory;
* ``off``: this tree, no observer (the per-message cost is two integer increments);
* ``observed``: this tree with ``PrometheusMetrics`` and ``AccessLog`` observing.

``bench.loadclient --paired`` alternates a 50-connection x 32 B ping-pong between them in
slices (rotating order), so neighbouring slices see the same machine; the table gives the
median server CPU µs per round trip and its ratio to ``before``. Run from the repository root::

    python -m bench.observe_cost                 # 15 cycles of 0.4 s slices
    python -m bench.observe_cost --cycles 31 --base d5c9152
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The last commit before the observation hooks (issue 19's work started after it).
DEFAULT_BASE = "d5c9152"


def _serve(observe: bool) -> None:  # pragma: no cover - runs in the server processes
    import logging
    from functools import partial

    import trio

    import trio_ws

    async def echo(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] != "websocket":
            return
        await receive()  # type: ignore[operator]
        await send({"type": "websocket.accept"})  # type: ignore[operator]
        while True:
            message = await receive()  # type: ignore[operator]
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": message.get("text")})  # type: ignore[operator]

    async def main() -> None:
        extra = {}
        if observe:
            from trio_ws.metrics import PrometheusMetrics
            from trio_ws.observe import AccessLog, ObserverGroup

            logging.getLogger("trio_ws.access").addHandler(logging.NullHandler())
            logging.getLogger("trio_ws.access").setLevel(logging.INFO)
            extra["observer"] = ObserverGroup((PrometheusMetrics(), AccessLog()))
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(
                partial(
                    trio_ws.serve, echo, "127.0.0.1", 0, ping_interval=None, read_timeout=None,
                    **extra,
                )
            )  # fmt: skip
            print(urls[0].rsplit(":", 1)[1], flush=True)

    trio.run(main)


def _start(tree: Path, observe: bool) -> subprocess.Popen[str]:
    command = [sys.executable, str(Path(__file__).resolve()), "--serve"]
    if observe:
        command.append("--observe")
    return subprocess.Popen(
        command,
        cwd=tempfile.gettempdir(),
        env={**os.environ, "PYTHONPATH": str(tree)},
        stdout=subprocess.PIPE,
        text=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--observe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base", default=DEFAULT_BASE, help="the 'before' commit")
    parser.add_argument("--cycles", type=int, default=15)
    parser.add_argument("--slice", type=float, default=0.4, help="seconds per slice")
    args = parser.parse_args()
    if args.serve:
        _serve(args.observe)
        return
    with tempfile.TemporaryDirectory() as base_dir, ExitStack() as stack:
        archive = subprocess.run(
            ["git", "archive", args.base, "trio_ws"], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", base_dir], input=archive.stdout, check=True)
        variants = {
            "before": (Path(base_dir), False),
            "off": (ROOT, False),
            "observed": (ROOT, True),
        }
        servers = {}
        for name, (tree, observe) in variants.items():
            process = _start(tree, observe)
            stack.callback(process.wait, 10)
            stack.callback(process.kill)
            assert process.stdout is not None
            servers[name] = (process, int(process.stdout.readline()))
        load = subprocess.run(
            [sys.executable, "-m", "bench.loadclient",
             "--paired", ",".join(str(port) for _, port in servers.values()),
             "--pids", ",".join(str(process.pid) for process, _ in servers.values()),
             "--cycles", str(args.cycles), "--duration", str(args.slice)],
            cwd=ROOT, capture_output=True, text=True, check=True, timeout=60 + args.cycles * 5,
        )  # fmt: skip
    result = json.loads(load.stdout)
    medians = {
        name: statistics.median(cycle["server_us_per_op"] for cycle in cycles)
        for name, cycles in zip(servers, result["per_cycle"], strict=True)
    }
    print(f"server CPU per 32 B round trip, 50 connections, median of {args.cycles} cycles")
    print("| variant | µs/round trip | ratio to before |")
    print("|---|---|---|")
    for name, value in medians.items():
        print(f"| {name} | {value:.1f} | {value / medians['before']:.3f} |")
    print(f"(client CPU {result['client_cpu_pct']:.0f} %; base {args.base})")


if __name__ == "__main__":
    main()

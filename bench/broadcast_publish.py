"""``python -m bench.broadcast_publish [--count N] [--tasks T ...]``: publish rate from one
process to one Redis, with T tasks publishing at once (each publish awaited by its task).

Starts its own redis-server (loopback, temp dir). Prints, for each T, the publishes accepted
per second (first publish to last acceptance). Run it against another checkout with
``PYTHONPATH`` for a before/after in one session.
"""

from __future__ import annotations

import argparse
import time

import trio

from bench.broadcast import _redis_server
from trio_ws import Broadcast


async def publish_rate(url: str, count: int, tasks: int) -> float:
    async with Broadcast(url) as broadcast:
        per_task = count // tasks

        async def publisher() -> None:
            for _ in range(per_task):
                await broadcast.publish("bench", "x" * 32)

        started = time.monotonic()
        async with trio.open_nursery() as nursery:
            for _ in range(tasks):
                nursery.start_soon(publisher)
        return per_task * tasks / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.broadcast_publish", description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--tasks", type=int, nargs="+", default=[1, 10, 100])
    options = parser.parse_args()
    with _redis_server() as url:
        for tasks in options.tasks:
            rate = trio.run(publish_rate, url, options.count, tasks)
            print(f"| {tasks} publishing task(s) | {rate:,.0f} publishes/s |", flush=True)


if __name__ == "__main__":
    main()

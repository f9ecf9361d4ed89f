"""What one wait for data costs: trio's ``wait_readable`` against the engine's read poller.

``python -m bench.poller_wait [--exchanges N] [--rounds R]``: pairs of tasks in one process
play ping-pong over socket pairs, 32 B each way, and every read has to wait (each side writes
only after its peer parked). Figure: CPU per exchange (one wait, one read, one write), for one
pair and for 50, the two ways of waiting interleaved over ``--rounds``; medians.

It is why the engine parks only connections at rest on the poller (where a pong is then read
without waking the task at all) and keeps trio's own wait for active ones (docs/performance.md,
"At rest").
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import time

import trio

from trio_ws._engine._poller import ParkedReader, park_reader

WAYS = ("trio wait_readable", "read poller")


async def _exchanges(way: str, pairs: int, exchanges: int) -> float:
    """CPU µs per exchange."""

    async def side(fd: int, first: bool, count: int) -> None:
        def on_readable() -> bool:
            try:
                os.read(fd, 65536)
            except BlockingIOError:
                return False
            return True

        if first:
            os.write(fd, b"x" * 32)
        for _ in range(count):
            try:
                os.read(fd, 65536)
            except BlockingIOError:
                if way == WAYS[0]:
                    await trio.lowlevel.wait_readable(fd)
                    os.read(fd, 65536)
                else:
                    await park_reader(ParkedReader(fd, on_readable))
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
            os.write(fd, b"x" * 32)

    sockets: list[socket.socket] = []
    try:
        for _ in range(pairs):
            sockets += socket.socketpair()
        for sock in sockets:
            sock.setblocking(False)
        start = time.process_time()
        async with trio.open_nursery() as nursery:
            for at in range(0, len(sockets), 2):
                per_side = exchanges // pairs // 2
                nursery.start_soon(side, sockets[at].fileno(), True, per_side)
                nursery.start_soon(side, sockets[at + 1].fileno(), False, per_side)
        return (time.process_time() - start) / exchanges * 1e6
    finally:
        for sock in sockets:
            sock.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.poller_wait", description=__doc__)
    parser.add_argument("--exchanges", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    figures: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.rounds):
        for pairs in (1, 50):
            for way in WAYS:
                us = trio.run(_exchanges, way, pairs, args.exchanges)
                figures.setdefault((way, pairs), []).append(us)
    print("| wait | 1 pair: CPU µs per exchange | 50 pairs |")
    print("|---|---|---|")
    for way in WAYS:
        one, fifty = (statistics.median(figures[way, pairs]) for pairs in (1, 50))
        print(f"| {way} | {one:.1f} | {fifty:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Memory per compressed connection for several permessage-deflate settings.

For each setting a fresh ``trio_ws.serve`` process (raw ASGI echo app) is started; 20
connections warm it up, then ``--connections`` more are opened with websockets' Trio client
(which offers permessage-deflate with ``client_max_window_bits``, as browsers do) and each
echoes one compressible 4 KiB text, so that both of the server's zlib streams exist. The
server's RSS growth divided by the connections is the figure; ``off`` (no compression) is the
baseline for what the connection itself costs. Run from the repository root::

    python -m bench.compression_memory
    python -m bench.compression_memory --connections 500 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: name -> ServerSettings for the compression.
SETTINGS: dict[str, dict[str, object]] = {
    "off": {"compression": None},
    "default (12/12, memLevel 5)": {},
    "level 1": {"compression_level": 1},
    "9/9, memLevel 1": {
        "server_max_window_bits": 9,
        "client_max_window_bits": 9,
        "compression_memory_level": 1,
    },
    "15/15, memLevel 8 (zlib's defaults)": {
        "server_max_window_bits": 15,
        "client_max_window_bits": 15,
        "compression_memory_level": 8,
    },
}


def _serve(settings: dict[str, object]) -> None:  # pragma: no cover - the server process
    from functools import partial

    import trio

    import trio_ws

    async def echo(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] != "websocket":
            return
        await receive()  # type: ignore[operator]
        await send({"type": "websocket.accept"})  # type: ignore[operator]
        while (message := await receive())["type"] != "websocket.disconnect":  # type: ignore[operator]
            await send({"type": "websocket.send", "text": message.get("text")})  # type: ignore[operator]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(
                partial(
                    trio_ws.serve, echo, "127.0.0.1", 0, ping_interval=None, read_timeout=None,
                    **settings,  # type: ignore[arg-type]
                )
            )  # fmt: skip
            print(urls[0], flush=True)

    trio.run(main)


async def _measure(url: str, pid: int, connections: int) -> float:
    import psutil
    import trio
    from websockets.trio.client import connect

    server = psutil.Process(pid)
    text = ("trio_ws compression memory " * 160)[:4096]
    async with trio.open_nursery() as nursery:
        opened: list[trio.Event] = []

        async def hold(ready: trio.Event, done: trio.Event) -> None:
            async with connect(url, max_size=2**20) as client:
                await client.send(text)
                assert await client.recv() == text
                ready.set()
                await done.wait()

        done = trio.Event()
        for count in (20, connections):  # warm-up, then the measured ones
            if count == connections:
                before = server.memory_info().rss
            batch = [trio.Event() for _ in range(count)]
            for ready in batch:
                nursery.start_soon(hold, ready, done)
                await ready.wait()
            opened += batch
        after = server.memory_info().rss
        done.set()
    return (after - before) / connections / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.serve is not None:
        _serve(json.loads(args.serve))
        return
    import trio

    results: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for _ in range(args.rounds):
        for name, settings in SETTINGS.items():
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.compression_memory", "--serve", json.dumps(settings)],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            try:
                assert process.stdout is not None
                url = process.stdout.readline().strip()
                results[name].append(trio.run(_measure, url, process.pid, args.connections))
            finally:
                process.kill()
                process.wait(10)
    off = statistics.median(results["off"])
    print(f"server RSS per connection, {args.connections} connections, median of {args.rounds}")
    print("| setting | KiB per connection | KiB for compression |")
    print("|---|---|---|")
    for name, values in results.items():
        value = statistics.median(values)
        print(f"| {name} | {value:.1f} | {value - off:+.1f} |")


if __name__ == "__main__":
    main()

"""One client benchmark run in its own process: ``python -m bench.client_load TARGET PORT N``.

Opens 50 connections to the echo server on 127.0.0.1:PORT with the client library TARGET, then
has each make N sequential round trips of a 32-byte text message, and prints one JSON object:
the process's CPU time (user + system) over the measured window divided by the number of
round trips, and the wall time. Connections are opened (and warmed up by one round trip) before
the window starts and closed after it ends, so handshakes are not counted. Compression and
keepalive pings are off for every target.

Targets: ``trio_ws`` (`trio_ws.connect`), ``websockets-trio`` (``websockets.trio.client``,
websockets >= 16), ``trio-websocket`` (``trio_websocket.open_websocket_url``).
"""

from __future__ import annotations

import contextlib
import json
import resource
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import trio

CONNECTIONS = 50
PAYLOAD = "x" * 32
TARGETS = ("trio_ws", "websockets-trio", "trio-websocket")

RoundTrip = Callable[[str], Awaitable[str]]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.asynccontextmanager
async def _open(target: str, url: str) -> AsyncIterator[RoundTrip]:
    """A round-trip function over one connection of ``target``."""
    if target == "trio_ws":
        import trio_ws

        async with trio_ws.connect(url, compression=None, ping_interval=None) as ws:

            async def trio_ws_round_trip(message: str) -> str:
                await ws.send_text(message)
                return await ws.receive_text()

            yield trio_ws_round_trip
    elif target == "websockets-trio":
        from websockets.trio.client import connect

        async with connect(url, compression=None, ping_interval=None) as client:

            async def websockets_round_trip(message: str) -> str:
                await client.send(message)
                return str(await client.recv())

            yield websockets_round_trip
    elif target == "trio-websocket":
        from trio_websocket import open_websocket_url

        async with open_websocket_url(url) as connection:

            async def trio_websocket_round_trip(message: str) -> str:
                await connection.send_message(message)
                return str(await connection.get_message())

            yield trio_websocket_round_trip
    else:
        raise SystemExit(f"unknown target {target!r}; one of {', '.join(TARGETS)}")


async def run(target: str, port: int, round_trips: int) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{port}/"
    opened = trio.Event()
    go = trio.Event()
    ready = 0
    done = 0
    finished = trio.Event()

    async def connection() -> None:
        nonlocal ready, done
        async with _open(target, url) as round_trip:
            assert await round_trip(PAYLOAD) == PAYLOAD  # warm-up
            ready += 1
            if ready == CONNECTIONS:
                opened.set()
            await go.wait()
            for _ in range(round_trips):
                await round_trip(PAYLOAD)
            done += 1
            if done == CONNECTIONS:
                finished.set()
            await finished.wait()  # close only after the window

    result: dict[str, Any] = {}
    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            for _ in range(CONNECTIONS):
                nursery.start_soon(connection)
            await opened.wait()
            cpu, wall = _cpu(), time.perf_counter()
            go.set()
            await finished.wait()
            cpu, wall = _cpu() - cpu, time.perf_counter() - wall
            total = CONNECTIONS * round_trips
            result = {
                "target": target,
                "round_trips": total,
                "cpu_us_per_round_trip": cpu / total * 1e6,
                "wall_s": wall,
            }
    return result


def main() -> None:
    target, port, round_trips = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(trio.run(run, target, port, round_trips)))


if __name__ == "__main__":
    main()

"""One benchmark server in its own process: ``python -m bench.server TARGET``.

Prints ``PORT <n>`` on stdout once it listens on 127.0.0.1 (an ephemeral port), then serves until
it is terminated. Targets:

- ``raw``, ``starlette``, ``direct``, ``structured``: the :mod:`bench.apps` application on
  hypercorn's trio worker (``hypercorn.trio.serve`` in this process, so that its CPU and memory
  are this process's: the CLI would fork a worker);
- ``trio-websocket``: trio-websocket's own server, echoing;
- ``websockets``: ``websockets.trio.serve`` (websockets ≥ 16), echoing, compression off;
- ``proto-direct``, ``proto-structured``: :mod:`bench.prototypes` on hypercorn's trio worker;
- ``uvicorn``: the raw application on uvicorn with uvloop, httptools and
  ``ws="websockets-sansio"`` (what an asyncio or FastAPI user deploys; pings off);
- ``websockets-uvloop``: ``websockets.asyncio.server.serve`` on uvloop, echoing, compression
  and pings off (the asyncio peer);
- ``raw@serve``, ``direct@serve``, ``structured@serve``: the same applications served by
  ``trio_ws.serve`` (hypercorn's components, sends made cancel-safe so trio_ws skips its
  per-send shield; pings and read timeout off, as in the plain-hypercorn targets). Their
  ratios are taken against ``raw@serve``, the same server with the raw application.

The peers echo whatever message kind they receive, as the ASGI echo apps do.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
from functools import partial
from typing import Any

import trio

ASGI_TARGETS = ("raw", "starlette", "direct", "structured")
PEER_TARGETS = ("trio-websocket", "websockets")
#: The servers an asyncio user deploys instead (issue #16's anchors); each on uvloop.
ASYNCIO_TARGETS = ("uvicorn", "websockets-uvloop")
#: Sketches of the proposed trio_ws common paths (bench/prototypes.py), for comparison only.
PROTOTYPE_TARGETS = ("proto-direct", "proto-structured")
#: The ASGI applications served by trio_ws.serve rather than plain hypercorn.
SERVE_TARGETS = ("raw@serve", "direct@serve", "structured@serve")
TARGETS = ASGI_TARGETS + SERVE_TARGETS + PEER_TARGETS + ASYNCIO_TARGETS + PROTOTYPE_TARGETS


def baseline(target: str) -> str:
    """The target a ratio for ``target`` is taken against: raw ASGI on the same server."""
    return "raw@serve" if target.endswith("@serve") else "raw"


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def peer_unavailable_reason(target: str) -> str | None:
    """``None`` if the peer server can run here, else why not."""
    if target == "websockets":
        try:
            import websockets.trio.server  # noqa: F401
        except ImportError:
            return "n/a (this websockets has no websockets.trio)"
    if target in ASYNCIO_TARGETS:
        try:
            import uvloop  # noqa: F401

            if target == "uvicorn":
                import httptools  # noqa: F401
                import uvicorn  # noqa: F401
        except ImportError as exc:
            return f"n/a ({exc.name} not installed: pip install -e '.[bench]')"
    if target == "trio-websocket":
        try:
            import trio_websocket  # noqa: F401
        except ImportError:
            return "n/a (trio-websocket not installed)"
    return None


def _announce(port: int) -> None:
    print(f"PORT {port}", flush=True)


async def serve_asgi(target: str) -> None:
    from hypercorn.config import Config
    from hypercorn.trio import serve

    from .apps import get_app
    from .prototypes import get_prototype_app

    if target in SERVE_TARGETS:
        await serve_with_trio_ws(target.removesuffix("@serve"))
        return
    app = get_prototype_app(target) if target in PROTOTYPE_TARGETS else get_app(target)
    if app is None:
        raise SystemExit(f"{target} is not available on this branch")
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.backlog = 1024
    config.graceful_timeout = 0.5
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(serve, app, config)
        _announce(int(binds[0].rsplit(":", 1)[1]))


async def serve_with_trio_ws(variant: str) -> None:
    import trio_ws

    from .apps import get_app

    app = get_app(variant)
    if app is None:
        raise SystemExit(f"{variant} is not available on this branch")
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            partial(
                trio_ws.serve,
                app,
                "127.0.0.1",
                0,
                graceful_timeout=0.5,
                ping_interval=None,
                read_timeout=None,
            )
        )
        _announce(int(urls[0].rsplit(":", 1)[1]))


async def serve_trio_websocket() -> None:
    from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            while True:
                await ws.send_message(await ws.get_message())
        except ConnectionClosed:
            return

    async with trio.open_nursery() as nursery:
        server: Any = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
        _announce(server.port)


async def websockets_echo(ws: Any) -> None:
    """Echo every message of a websockets connection (its Trio or asyncio server)."""
    from websockets.exceptions import ConnectionClosed

    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        return


async def serve_websockets() -> None:
    from websockets.trio.server import serve

    handler = websockets_echo
    async with trio.open_nursery() as nursery:
        server: Any = await nursery.start(
            lambda task_status: serve(
                handler,
                0,
                host="127.0.0.1",
                compression=None,
                ping_interval=None,
                max_size=2**21,
                task_status=task_status,
            )
        )
        _announce(server.listeners[0].socket.getsockname()[1])


def serve_uvicorn(ping_interval: float | None = None) -> None:
    """The raw ASGI application on uvicorn: uvloop, httptools, websockets' sans-I/O protocol
    (pings off unless ``ping_interval`` is given)."""
    import socket

    import uvicorn

    from .apps import raw

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    config = uvicorn.Config(
        raw,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_ping_interval=ping_interval,
        ws_per_message_deflate=False,
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    _announce(sock.getsockname()[1])
    server.run(sockets=[sock])


def serve_websockets_uvloop() -> None:
    """websockets' asyncio server on uvloop, echoing; compression and pings off."""
    import asyncio

    import uvloop
    from websockets.asyncio.server import serve

    async def main() -> None:
        async with serve(
            websockets_echo,
            "127.0.0.1",
            0,
            compression=None,
            ping_interval=None,
            max_size=2**21,
            backlog=1024,
        ) as server:
            _announce(next(iter(server.sockets)).getsockname()[1])
            await asyncio.get_running_loop().create_future()  # until terminated

    uvloop.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target", choices=TARGETS)
    args = parser.parse_args()
    raise_fd_limit()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.target == "trio-websocket":
        trio.run(serve_trio_websocket)
    elif args.target == "websockets":
        trio.run(serve_websockets)
    elif args.target == "uvicorn":
        serve_uvicorn()
    elif args.target == "websockets-uvloop":
        serve_websockets_uvloop()
    else:
        trio.run(serve_asgi, args.target)


if __name__ == "__main__":
    main()

"""``python -m examples.chat``: serve the chat demo and print the URL to open.

Options: ``--host`` and ``--port`` (``--port 0`` picks a free one), ``--broadcast URL``
(default ``$CHAT_BROADCAST_URL`` or ``memory://``; ``redis://localhost:6379`` lets several
processes share rooms; it needs ``pip install -e '.[redis]'``), and ``--origin`` to allow a
page origin other than this machine's. Ctrl-C (or SIGTERM) stops it gracefully: open
websockets are closed with 1001 and the pages say so.

On several worker processes, run the app through trio_ws's command instead (its lifespan opens
the Broadcast on ``$CHAT_BROADCAST_URL``; ``$CHAT_PRESENCE_TTL`` sets how soon the members of a
crashed worker leave the lists, 10 s by default)::

    CHAT_BROADCAST_URL=redis://127.0.0.1:6379 python -m trio_ws examples.chat.app:app --workers 2
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from functools import partial
from typing import TYPE_CHECKING

import trio

import trio_ws

from .app import LOOPBACK_ORIGIN, create_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m examples.chat", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port (8000)")
    parser.add_argument(
        "--broadcast",
        default=os.environ.get("CHAT_BROADCAST_URL", "memory://"),
        help="memory:// or redis://HOST:PORT (default: $CHAT_BROADCAST_URL or memory://)",
    )
    parser.add_argument(
        "--origin", action="append", default=[], help="another page origin to allow"
    )
    return parser


def _page_url(ws_url: str) -> str:
    return "http" + ws_url.removeprefix("ws") + "/"


async def main(args: argparse.Namespace) -> None:
    """Serve until the first SIGINT/SIGTERM (graceful shutdown); a second one stops at once."""
    stop = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio_ws.Broadcast(args.broadcast) as broadcast, trio.open_nursery() as outer:
            outer.start_soon(_on_signals, signals, stop, outer.cancel_scope)
            app = create_app(broadcast, origins=[LOOPBACK_ORIGIN, *args.origin])
            async with trio.open_nursery() as server:
                urls: list[str] = await server.start(
                    partial(trio_ws.serve, app, args.host, args.port, shutdown_trigger=stop.wait)
                )
                print(f"Chat demo: open {_page_url(urls[0])} in two browser tabs", flush=True)
                print(f"(broadcast: {args.broadcast}; Ctrl-C stops it)", flush=True)
            outer.cancel_scope.cancel()  # served and shut down: stop watching signals


async def _on_signals(
    signals: AsyncIterator[int], stop: trio.Event, scope: trio.CancelScope
) -> None:
    async for _ in signals:
        if stop.is_set():
            scope.cancel()  # a second signal: stop at once
            return
        print("Stopping: closing the open websockets (1001)...", flush=True)
        stop.set()


if __name__ == "__main__":
    try:
        trio.run(main, _parser().parse_args())
    except KeyboardInterrupt:
        sys.exit(130)

"""``python -m trio_ws module:app``: serve an ASGI application with :func:`trio_ws.serve`.

Prints each bound URL on its own line of standard output once the server listens. The first
SIGINT or SIGTERM starts a graceful shutdown (open websockets are closed with the shutdown
code, connections get the grace period); a second one stops at once.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from ._serve import DEFAULT_SETTINGS, ServerSettings, hypercorn_config, serve

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._types import ASGIApp


def _load(target: str) -> ASGIApp:
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise SystemExit(f"trio_ws: expected MODULE:ATTRIBUTE, got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise SystemExit(f"trio_ws: cannot import {module_name!r}: {error}") from error
    app: Any = module
    for part in attribute.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise SystemExit(f"trio_ws: {module_name!r} has no attribute {attribute!r}") from None
    if not callable(app):
        raise SystemExit(f"trio_ws: {target!r} is not callable")
    return app  # type: ignore[no-any-return]


def _seconds_or_none(text: str) -> float | None:
    return None if text.lower() in {"none", "off", "0"} else float(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trio_ws",
        description="Serve an ASGI application on hypercorn's trio worker, with trio_ws's "
        "hardening (fault containment, bounded messages, graceful websocket shutdown).",
    )
    parser.add_argument("app", help="the application, as MODULE:ATTRIBUTE")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8000, help="0 picks a free port (default: %(default)s)"
    )
    parser.add_argument(
        "--max-message-size",
        type=int,
        default=DEFAULT_SETTINGS["max_message_size"],
        help="largest message in bytes; larger ones are closed with 1009 (default: %(default)s)",
    )
    parser.add_argument(
        "--ping-interval",
        type=_seconds_or_none,
        default=DEFAULT_SETTINGS["ping_interval"],
        help="seconds between server pings; 'off' or 0 for none (default: %(default)s)",
    )
    parser.add_argument(
        "--read-timeout",
        type=_seconds_or_none,
        default=DEFAULT_SETTINGS["read_timeout"],
        help="drop a connection silent for this long; 'off' or 0 for never (default: %(default)s)",
    )
    parser.add_argument(
        "--graceful-timeout",
        type=float,
        default=DEFAULT_SETTINGS["graceful_timeout"],
        help="seconds connections get to finish on shutdown (default: %(default)s)",
    )
    parser.add_argument(
        "--shutdown-close-code",
        type=int,
        choices=(1001, 1012),
        default=1001,
        help="close code sent to open websockets on shutdown (default: %(default)s)",
    )
    parser.add_argument(
        "--ping-timeout",
        type=_seconds_or_none,
        default=DEFAULT_SETTINGS["ping_timeout"],
        help="close (1011) a websocket whose pong is this late; 'off' or 0 for never "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--compression",
        choices=("deflate", "off"),
        default="deflate",
        help="permessage-deflate when the client offers it (default: %(default)s)",
    )
    parser.add_argument(
        "--websocket-engine",
        choices=("trio_ws", "hypercorn"),
        default=DEFAULT_SETTINGS["websocket_engine"],
        help="who drives websocket connections (default: %(default)s)",
    )
    parser.add_argument("--certfile", help="serve TLS (wss://) with this certificate")
    parser.add_argument("--keyfile", help="the certificate's private key")
    return parser


async def _run(app: ASGIApp, args: argparse.Namespace) -> None:
    config = hypercorn_config(certfile=args.certfile, keyfile=args.keyfile)
    settings: ServerSettings = {
        "max_message_size": args.max_message_size,
        "ping_interval": args.ping_interval,
        "read_timeout": args.read_timeout,
        "graceful_timeout": args.graceful_timeout,
        "ping_timeout": args.ping_timeout,
        "compression": None if args.compression == "off" else "deflate",
        "websocket_engine": args.websocket_engine,
    }
    stop = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def serve_then_exit(*, task_status: trio.TaskStatus[list[str]]) -> None:
                await serve(
                    app,
                    args.host,
                    args.port,
                    config=config,
                    shutdown_close_code=args.shutdown_close_code,
                    shutdown_trigger=stop.wait,
                    task_status=task_status,
                    **settings,
                )
                nursery.cancel_scope.cancel("server stopped")

            urls = await nursery.start(serve_then_exit)
            for url in urls:
                print(url, flush=True)
            async for _ in signals:
                if stop.is_set():
                    nursery.cancel_scope.cancel("second signal: stopping at once")
                    break
                stop.set()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m trio_ws``."""
    args = _parser().parse_args(argv)
    app = _load(args.app)
    trio.run(partial(_run, app, args))


if __name__ == "__main__":
    main()

"""``python -m trio_ws module:app``: serve an ASGI application with `trio_ws.serve`.

Prints each bound URL on its own line of standard output once the server listens. The first
SIGINT or SIGTERM starts a graceful shutdown (open websockets are closed with the shutdown
code, connections get the grace period); a second one stops at once. ``--workers N`` runs N
such servers on one port (see `trio_ws._workers`).
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
from ._workers import run_workers, strip_options, worker_count

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
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port (SO_REUSEPORT), each with its own trio "
        "loop; a dead worker is replaced (default: %(default)s)",
    )
    parser.add_argument("--certfile", help="serve TLS (wss://) with this certificate")
    parser.add_argument("--keyfile", help="the certificate's private key")
    return parser


async def _run(app: ASGIApp, args: argparse.Namespace) -> None:
    config = hypercorn_config(certfile=args.certfile, keyfile=args.keyfile, workers=worker_count())
    settings: ServerSettings = {
        "max_message_size": args.max_message_size,
        "ping_interval": args.ping_interval,
        "read_timeout": args.read_timeout,
        "graceful_timeout": args.graceful_timeout,
        "ping_timeout": args.ping_timeout,
        "compression": None if args.compression == "off" else "deflate",
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


#: What a bad command line or an unusable address raises; reported in one line, no traceback.
_USAGE_ERRORS = (OSError, ValueError, TypeError, OverflowError)


def _usage_error(error: BaseException) -> BaseException | None:
    """The single usage error in ``error`` (unwrapping groups), or ``None`` if it is not one."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error if isinstance(error, _USAGE_ERRORS) else None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m trio_ws``.

    Raises:
      SystemExit: with a one-line message and a non-zero status when the command line or the
        address cannot be used (a port in use or out of range, an unknown host, a bad option).
    """
    args = _parser().parse_args(argv)
    if args.workers < 1:
        raise SystemExit("trio_ws: --workers must be at least 1")
    if args.workers > 1:
        worker_argv = strip_options(sys.argv[1:] if argv is None else argv, "--workers", "--port")
        raise SystemExit(
            run_workers(
                worker_argv,
                host=args.host,
                port=args.port,
                workers=args.workers,
                graceful_timeout=args.graceful_timeout,
            )
        )
    app = _load(args.app)
    try:
        trio.run(partial(_run, app, args))
    except BaseException as error:
        usage = _usage_error(error)
        if usage is None:
            raise
        detail = f"{type(usage).__name__}: {usage}".replace("\n", " ")
        where = f"{args.app} on {args.host}:{args.port}"
        raise SystemExit(f"trio_ws: cannot serve {where}: {detail}") from None


if __name__ == "__main__":
    main()

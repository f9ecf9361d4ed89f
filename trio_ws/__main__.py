"""``python -m trio_ws module:app``: serve an ASGI application with `trio_ws.serve`.

Prints the URL once on standard output when the server listens: ``http://`` (``https://``
with TLS) for an application that serves pages, ``ws://`` (``wss://``) for a websocket-only
trio_ws application. The first SIGINT or SIGTERM logs "shutting down" and starts a graceful
shutdown (open websockets are closed with the shutdown code, connections get the grace
period); a second one stops at once. ``--workers N`` runs N such servers on one port (see
`trio_ws._workers`); then the parent logs those lines once, and the workers do not.
``--access-log`` and ``--metrics-port`` attach the observers of `trio_ws.observe` and
`trio_ws.metrics`.

Failures a user can fix end in one line on standard error and exit status 1: a bad command
line, an address that cannot be bound, TLS files that cannot be read, a lifespan startup that
failed (with the application's exception).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import ssl
import sys
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from ._access_log import AccessLog
from ._observe import combine
from ._serve import DEFAULT_SETTINGS, ServerSettings, hypercorn_config, serve
from ._startup import LifespanStartupError
from ._workers import ENV_WORKERS, run_workers, strip_options, worker_count, worker_index

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._observe import ServerObserver
    from ._types import ASGIApp

#: hypercorn's log line shape, so that trio_ws's lines read like the server's own.
_LOG_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
_LOG_DATE = "%Y-%m-%d %H:%M:%S %z"
logger = logging.getLogger("trio_ws")


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


#: The permessage-deflate options: flag, lowest and highest value, help.
_COMPRESSION_OPTIONS = (
    ("--compression-level", -1, 9, "zlib level for permessage-deflate (default: zlib's, 6)"),
    ("--compression-memory-level", 1, 9,
     "zlib memLevel of each compressor; lower saves memory (default: 5)"),
    ("--server-max-window-bits", 9, 15,
     "largest LZ77 window (2^N bytes) the server compresses with; smaller saves memory per "
     "compressed connection (default: 12)"),
    ("--client-max-window-bits", 8, 15,
     "largest LZ77 window asked of clients that support the parameter; smaller saves memory "
     "per compressed connection (default: 12)"),
)  # fmt: skip


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
    parser.add_argument(
        "--access-log",
        nargs="?",
        const="-",
        metavar="FILE",
        help="log one line per websocket and per refused handshake, to FILE or, without "
        "one, to standard error (default: off)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus metrics at http://HOST:PORT/metrics (needs the 'metrics' "
        "extra); with --workers N, worker i serves on PORT+i (0: each picks a free port)",
    )
    parser.add_argument(
        "--metrics-host", help="interface for --metrics-port (default: the --host value)"
    )
    for option, low, high, text in _COMPRESSION_OPTIONS:
        parser.add_argument(
            option, type=int, choices=range(low, high + 1), metavar=f"{{{low}..{high}}}", help=text
        )
    return parser


def _configure_logging(args: argparse.Namespace, *, access_log: bool = True) -> None:
    """trio_ws's own lines (and the access log, if asked) in hypercorn's shape.

    The parent of ``--workers N`` passes ``access_log=False``: its workers write that log.
    """
    formatter = logging.Formatter(_LOG_FORMAT, _LOG_DATE)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if not access_log:
        return
    access = logging.getLogger("trio_ws.access")
    if args.access_log is not None:
        target: logging.Handler = (
            logging.StreamHandler(sys.stderr)
            if args.access_log == "-"
            else logging.FileHandler(args.access_log, encoding="utf-8")
        )
        target.setFormatter(formatter)
        access.addHandler(target)
        access.propagate = False


def _serves_pages(app: object) -> bool:
    """Whether ``app`` may serve pages (a router), rather than only trio_ws websockets."""
    from ._app import WebSocketApp
    from ._endpoint import WebSocketEndpoint

    if isinstance(app, WebSocketApp) or (
        isinstance(app, type) and issubclass(app, WebSocketEndpoint)
    ):
        return False
    return hasattr(app, "router") or hasattr(app, "routes")


def _display_url(url: str, app: object) -> str:
    """The URL to print: ``http(s)://.../`` for an app that serves pages, else as bound."""
    if _serves_pages(app):
        return url.replace("wss://", "https://", 1).replace("ws://", "http://", 1) + "/"
    return url


def _metrics(args: argparse.Namespace) -> Any:
    """A `trio_ws.metrics.PrometheusMetrics`, or ``None`` without ``--metrics-port``."""
    if args.metrics_port is None:
        return None
    try:
        from .metrics import PrometheusMetrics
    except ImportError as error:
        raise SystemExit(f"trio_ws: --metrics-port: {error}") from None
    return PrometheusMetrics()


def _metrics_port(args: argparse.Namespace) -> int:
    """This process's metrics port: ``--metrics-port`` plus the worker's index."""
    port: int = args.metrics_port
    return port + worker_index() if port else 0


def _check_tls_files(args: argparse.Namespace) -> None:
    """Read the certificate and key now, so that a bad file is one line, not a traceback."""
    if args.keyfile and not args.certfile:
        raise SystemExit("trio_ws: --keyfile needs --certfile")
    if not args.certfile:
        return
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            args.certfile, args.keyfile
        )
    except (OSError, ssl.SSLError) as error:
        files = args.certfile + (f" and {args.keyfile}" if args.keyfile else "")
        detail = error.strerror or str(error)
        raise SystemExit(f"trio_ws: cannot use the TLS files {files}: {detail}") from None


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
    for flag, *_ in _COMPRESSION_OPTIONS:
        option = flag.removeprefix("--").replace("-", "_")
        if getattr(args, option) is not None:
            settings[option] = getattr(args, option)  # type: ignore[literal-required]
    metrics = _metrics(args)
    access_log = AccessLog() if args.access_log is not None else None
    observer: ServerObserver | None = combine([access_log, metrics])
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
                    observer=observer,
                    **settings,
                )
                nursery.cancel_scope.cancel("server stopped")

            urls = await nursery.start(serve_then_exit)
            if metrics is not None:
                metrics_host = args.metrics_host or args.host
                metrics_urls = await nursery.start(
                    partial(
                        serve,
                        metrics.asgi_app(),
                        metrics_host,
                        _metrics_port(args),
                        shutdown_trigger=stop.wait,
                        graceful_timeout=1.0,
                    )
                )
                for url in metrics_urls:
                    logger.info("trio_ws: metrics on %s/metrics", url.replace("ws", "http", 1))
            for url in urls:
                print(_display_url(url, app), flush=True)
            # A worker of `--workers N` leaves these lines to its parent, which logs them once.
            announce = ENV_WORKERS not in os.environ
            async for signum in signals:
                if stop.is_set():
                    if announce:
                        logger.info("trio_ws: second signal: stopping at once")
                    nursery.cancel_scope.cancel("second signal: stopping at once")
                    break
                if not announce:
                    stop.set()
                    continue
                logger.info(
                    "trio_ws: shutting down (%s): closing open websockets with %d, "
                    "connections get %.1f s; signal again to stop at once",
                    signal.Signals(signum).name,
                    args.shutdown_close_code,
                    args.graceful_timeout,
                )
                stop.set()


#: What a bad command line or an unusable address raises; reported in one line, no traceback.
_USAGE_ERRORS = (OSError, ValueError, TypeError, OverflowError)


def _usage_error(error: BaseException) -> BaseException | None:
    """The single usage error in ``error`` (unwrapping groups), or ``None`` if it is not one."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error if isinstance(error, (*_USAGE_ERRORS, LifespanStartupError)) else None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m trio_ws``.

    Raises:
      SystemExit: with a one-line message and a non-zero status when the command line or the
        address cannot be used (a port in use or out of range, an unknown host, a bad option).
    """
    args = _parser().parse_args(argv)
    if args.workers < 1:
        raise SystemExit("trio_ws: --workers must be at least 1")
    _check_tls_files(args)
    if args.workers > 1:
        worker_argv = strip_options(sys.argv[1:] if argv is None else argv, "--workers", "--port")
        _configure_logging(args, access_log=False)
        try:
            status = run_workers(
                worker_argv,
                host=args.host,
                port=args.port,
                workers=args.workers,
                graceful_timeout=args.graceful_timeout,
                shutdown_close_code=args.shutdown_close_code,
            )
        except OSError as error:
            detail = f"{type(error).__name__}: {error}".replace("\n", " ")
            raise SystemExit(
                f"trio_ws: cannot serve {args.app} on {args.host}:{args.port}: {detail}"
            ) from None
        raise SystemExit(status)
    _configure_logging(args)
    app = _load(args.app)
    try:
        trio.run(partial(_run, app, args))
    except BaseException as error:
        usage = _usage_error(error)
        if usage is None:
            raise
        detail = (
            str(usage)
            if isinstance(usage, LifespanStartupError)
            else (f"{type(usage).__name__}: {usage}")
        )
        detail = detail.replace("\n", " ")
        where = f"{args.app} on {args.host}:{args.port}"
        raise SystemExit(f"trio_ws: cannot serve {where}: {detail}") from None


if __name__ == "__main__":
    main()

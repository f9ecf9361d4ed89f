"""A server an operator can watch: Prometheus metrics at ``/metrics`` and an access log.

Run it (needs the ``metrics`` extra: ``pip install -e '.[metrics]'`` from a checkout)::

    python -m examples.observed            # http://127.0.0.1:8000/metrics, ws://.../echo
    python -m examples.observed --port 0   # a free port

The same without writing any code: ``python -m trio_ws APP --access-log --metrics-port 9000``
(see docs/operations.md). Here the metrics are a route of the application itself, next to the
websocket it counts:

* ``GET /metrics``  the Prometheus text format (``trio_ws_connections_total``, ...).
* ``WS  /echo``     echoes text; only pages from ``http://127.0.0.1`` (or no ``Origin``) may
  open it, so a refused handshake shows up in the access log with its reason.

Each websocket's end and each refusal is one line of the ``trio_ws.access`` logger, which
``main`` sends to standard error.
"""

from __future__ import annotations

import argparse
import logging
import re
from functools import partial

import trio
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute

import trio_ws
from trio_ws.metrics import PrometheusMetrics
from trio_ws.observe import AccessLog, ObserverGroup

#: Counts what the server does; its ``asgi_app()`` is the ``/metrics`` route.
metrics = PrometheusMetrics()
#: What ``trio_ws.serve`` reports to: the metrics and the access log.
observer = ObserverGroup((metrics, AccessLog()))


async def echo(ws: trio_ws.WebSocket) -> None:
    """Echo every text until the client leaves."""
    await ws.accept()
    async for text in ws.iter_text():
        await ws.send_text(text)


app = Starlette(
    routes=[
        Route("/metrics", metrics.asgi_app()),
        WebSocketRoute(
            "/echo",
            trio_ws.websocket_app(
                echo, allowed_origins=[re.compile(r"http://127\.0\.0\.1(:\d+)?"), None]
            ),
        ),
    ]
)


async def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` with the observer until cancelled (``task_status`` gets the URLs)."""
    await trio_ws.serve(app, host, port, observer=observer, task_status=task_status)


def main() -> None:
    """``python -m examples.observed [--port N]``: serve, print the URLs, log each websocket."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(partial(serve, "127.0.0.1", args.port))
            page = urls[0].replace("ws://", "http://")
            print(f"metrics: {page}/metrics  websocket: {urls[0]}/echo", flush=True)

    trio.run(run)


if __name__ == "__main__":
    main()

"""Prometheus metrics for `trio_ws.serve`: an observer and the ASGI app that exposes it.

Needs the ``metrics`` extra (``prometheus_client``)::

    metrics = PrometheusMetrics()
    routes.append(Route("/metrics", metrics.asgi_app()))  # expose it (Starlette)
    await trio_ws.serve(app, observer=metrics)            # and count what the server does

``python -m trio_ws APP --metrics-port 9000`` does both, serving ``http://HOST:9000/metrics``
from a second listener of the same process. What is exported (see ``docs/operations.md``):

| metric | type | what |
|---|---|---|
| `trio_ws_connections_total` | counter | websockets accepted |
| `trio_ws_connections_open` | gauge | websockets open now |
| `trio_ws_messages_received_total` | counter | whole messages from clients (not frames) |
| `trio_ws_messages_sent_total` | counter | whole messages to clients (not frames) |
| `trio_ws_closes_total{code,by}` | counter | ended websockets, by close code and side |
| `trio_ws_handshakes_refused_total{status}` | counter | handshakes answered with an HTTP error |
| `trio_ws_keepalive_round_trip_seconds` | histogram | ping to pong time |
| `trio_ws_broadcast_delivered_total` | counter | broadcast messages handed to subscribers |
| `trio_ws_broadcast_dropped_total` | counter | broadcast messages lost to overflow |
| `trio_ws_broadcast_gaps_total` | counter | times a subscriber's backend link was lost |
| `trio_ws_broadcast_subscribers` | gauge | broadcast subscriptions open now |

Messages are not counted by calls: each connection keeps two integers, which the metrics add
up when Prometheus scrapes (open connections' counters plus those of ended ones), so the
per-message cost is one integer increment whether or not metrics are on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

from ._observe import ServerObserver
from .broadcast._tally import BROADCAST_TALLY, BroadcastTotals

try:
    from prometheus_client import CollectorRegistry, Counter, Histogram
    from prometheus_client.asgi import make_asgi_app
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.gc_collector import GCCollector
    from prometheus_client.platform_collector import PlatformCollector
    from prometheus_client.process_collector import ProcessCollector
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "trio_ws.metrics needs prometheus_client: pip install 'trio-ws[metrics]'"
    ) from error

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric

    from ._observe import ConnectionEnd, HandshakeRefused, ObservedConnection
    from ._types import ASGIApp, Receive, Scope, Send

__all__ = ["PrometheusMetrics"]

#: Round-trip buckets, in seconds: loopback to a slow mobile link.
_ROUND_TRIP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@final
class PrometheusMetrics(ServerObserver):
    """Counts what the server's websockets do, as Prometheus metrics.

    Pass it to `trio_ws.serve` as ``observer``; expose it with `asgi_app`.

    Args:
      registry: the ``prometheus_client`` registry to register with. ``None`` (default): a
        registry of its own, with the process, platform and garbage-collector metrics that
        ``prometheus_client``'s default registry has. Pass ``prometheus_client.REGISTRY`` to
        expose trio_ws's metrics next to your own.

    Raises (when made):
      ValueError: ``registry`` already has trio_ws's metrics (one `PrometheusMetrics` per
        registry).
    """

    __slots__ = (
        "_accepted",
        "_closes",
        "_ended_received",
        "_ended_sent",
        "_open",
        "_refused",
        "_round_trip",
        "registry",
    )

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        if registry is None:
            registry = CollectorRegistry()
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        self.registry = registry
        self._open: set[ObservedConnection] = set()
        self._accepted = 0
        self._ended_received = 0
        self._ended_sent = 0
        self._closes = Counter(
            "trio_ws_closes",
            "Websockets ended, by close code and by the side that closed (client or server).",
            ["code", "by"],
            registry=registry,
        )
        self._refused = Counter(
            "trio_ws_handshakes_refused",
            "Websocket handshakes answered with an HTTP error instead of 101, by status.",
            ["status"],
            registry=registry,
        )
        self._round_trip = Histogram(
            "trio_ws_keepalive_round_trip_seconds",
            "Time from a keepalive ping to its pong.",
            buckets=_ROUND_TRIP_BUCKETS,
            registry=registry,
        )
        registry.register(_ScrapeTimeCollector(self))

    # ------------------------------------------------------------------ ServerObserver

    def connection_accepted(self, connection: ObservedConnection) -> None:
        """Count an accepted websocket and start reading its message counters."""
        self._accepted += 1
        self._open.add(connection)

    def connection_ended(self, connection: ObservedConnection, end: ConnectionEnd) -> None:
        """Count the close, and keep the ended connection's message counts."""
        self._open.discard(connection)
        self._ended_received += end.messages_received
        self._ended_sent += end.messages_sent
        self._closes.labels(code=str(end.code), by=end.closed_by).inc()

    def handshake_refused(self, refusal: HandshakeRefused) -> None:
        """Count a refused handshake by its status."""
        self._refused.labels(status=str(refusal.status)).inc()

    def keepalive_round_trip(self, seconds: float) -> None:
        """Record a keepalive round trip."""
        self._round_trip.observe(seconds)

    # ------------------------------------------------------------------ exposing

    def asgi_app(self) -> ASGIApp:
        """An ASGI app that answers every HTTP request with the metrics (text format).

        Route it where Prometheus should scrape (``Route("/metrics", metrics.asgi_app())`` in
        Starlette, ``app.add_route("/metrics", metrics.asgi_app())`` in FastAPI) or serve it
        on a port of its own (``trio_ws.serve(metrics.asgi_app(), host, port)``). It answers
        the lifespan protocol and refuses websockets (1008, HTTP 403).
        """
        return _MetricsApp(make_asgi_app(self.registry))

    def totals(self) -> dict[str, int]:
        """The connection and message counters now (what a scrape would report)."""
        open_connections = tuple(self._open)
        return {
            "connections_total": self._accepted,
            "connections_open": len(open_connections),
            "messages_received_total": self._ended_received
            + sum(connection.messages_received for connection in open_connections),
            "messages_sent_total": self._ended_sent
            + sum(connection.messages_sent for connection in open_connections),
        }


@final
class _MetricsApp:
    """The ASGI app of `PrometheusMetrics.asgi_app` (a class, so that routers see an ASGI app,
    not an endpoint function)."""

    def __init__(self, exposition: Any) -> None:
        self._exposition = exposition

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._exposition(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif kind == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1008})


@final
class _ScrapeTimeCollector:
    """The counters read when Prometheus scrapes: connections, messages, broadcast."""

    def __init__(self, metrics: PrometheusMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Metric]:
        return list(self._families(_zero_totals(), BroadcastTotals(0, 0, 0, 0)))

    def collect(self) -> Iterator[Metric]:
        return self._families(self._metrics.totals(), BROADCAST_TALLY.totals())

    @staticmethod
    def _families(totals: dict[str, int], broadcast: BroadcastTotals) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "trio_ws_connections", "Websockets accepted.", value=totals["connections_total"]
        )
        yield GaugeMetricFamily(
            "trio_ws_connections_open", "Websockets open now.", value=totals["connections_open"]
        )
        yield CounterMetricFamily(
            "trio_ws_messages_received",
            "Whole websocket messages received from clients (not frames).",
            value=totals["messages_received_total"],
        )
        yield CounterMetricFamily(
            "trio_ws_messages_sent",
            "Whole websocket messages sent to clients (not frames).",
            value=totals["messages_sent_total"],
        )
        yield CounterMetricFamily(
            "trio_ws_broadcast_delivered",
            "Broadcast messages handed to subscribers in this process.",
            value=broadcast.delivered,
        )
        yield CounterMetricFamily(
            "trio_ws_broadcast_dropped",
            "Broadcast messages subscribers lost to their overflow policy.",
            value=broadcast.dropped,
        )
        yield CounterMetricFamily(
            "trio_ws_broadcast_gaps",
            "Times a subscriber's link to the broadcast backend was lost.",
            value=broadcast.gaps,
        )
        yield GaugeMetricFamily(
            "trio_ws_broadcast_subscribers",
            "Broadcast subscriptions open now.",
            value=broadcast.subscribers,
        )


def _zero_totals() -> dict[str, int]:
    return dict.fromkeys(
        ("connections_total", "connections_open", "messages_received_total", "messages_sent_total"),
        0,
    )

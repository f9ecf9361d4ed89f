"""Prometheus metrics, scraped over real sockets from an app served by ``trio_ws.serve``."""

from __future__ import annotations

from functools import partial

import pytest
import trio
import trio_websocket
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as sync_connect

from trio_ws import Broadcast, WebSocket, adopt, serve, websocket_app
from trio_ws.metrics import PrometheusMetrics
from trio_ws.observe import ObserverGroup

from ._support import Recorder, http_get, samples, served


def _fragmented_then_closed_by_server(url: str) -> None:
    """One message in two frames, then "close please" (websockets' sync client, which
    websockets 16, the floor tests-minimum runs, has too); every wait bounded."""
    with sync_connect(url, open_timeout=5, close_timeout=5) as client:
        client.send(["frag", "mented"])
        assert client.recv(timeout=5) == "fragmented"
        client.send("close please")
        with pytest.raises(ConnectionClosed) as closed:
            client.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4000


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    async for text in ws.iter_text():
        if text == "close please":
            await ws.close(4000, "as asked")
            return
        await ws.send_text(text)


APP = websocket_app(echo, allowed_origins=["https://ok.example", None])


async def scrape(url: str) -> dict[str, float]:
    status, body = await http_get(url)
    assert status == 200, body
    return samples(body)


async def test_connections_messages_closes_refusals_and_round_trips_are_counted() -> None:
    metrics = PrometheusMetrics()
    recorder = Recorder()
    observer = ObserverGroup((metrics, recorder))
    with trio.fail_after(15):
        async with (
            served(APP, observer, ping_interval=0.05) as url,
            served(metrics.asgi_app(), None) as metrics_url,
        ):
            page = metrics_url.replace("ws://", "http://") + "/metrics"
            async with trio_websocket.open_websocket_url(url) as client:
                for word in ("a", "b"):
                    await client.send_message(word)
                    await client.get_message()
                await recorder.next("round_trip")
                live = await scrape(page)  # counted while the connection is open
            await recorder.next("ended")
            await trio.to_thread.run_sync(_fragmented_then_closed_by_server, url)
            await recorder.next("ended")
            with pytest.raises(trio_websocket.ConnectionRejected):
                async with trio_websocket.open_websocket_url(
                    url, extra_headers=[("Origin", "https://evil.example")]
                ):
                    pass
            await recorder.next("refused")
            final = await scrape(page)
    assert live["trio_ws_connections_open"] == 1
    assert live["trio_ws_messages_received_total"] == 2
    assert live["trio_ws_messages_sent_total"] == 2
    assert final["trio_ws_connections_total"] == 2
    assert final["trio_ws_connections_open"] == 0
    assert final["trio_ws_messages_received_total"] == 4
    assert final["trio_ws_messages_sent_total"] == 3
    assert final['trio_ws_closes_total{by="client",code="1000"}'] == 1
    assert final['trio_ws_closes_total{by="server",code="4000"}'] == 1
    assert final['trio_ws_handshakes_refused_total{status="403"}'] == 1
    assert final["trio_ws_keepalive_round_trip_seconds_count"] >= 1
    assert "process_cpu_seconds_total" in final  # the process metrics of a default registry


async def test_broadcast_deliveries_and_drops_are_counted() -> None:
    metrics = PrometheusMetrics()
    before = metrics.registry.get_sample_value
    delivered = before("trio_ws_broadcast_delivered_total") or 0.0
    dropped = before("trio_ws_broadcast_dropped_total") or 0.0
    with trio.fail_after(10):
        async with (
            Broadcast("memory://") as broadcast,
            broadcast.subscribe("room", buffer=2) as subscriber,
        ):
            for n in range(5):
                await broadcast.publish("room", f"m{n}")
            assert metrics.registry.get_sample_value("trio_ws_broadcast_subscribers") == 1
            assert [(await anext(subscriber)).message for _ in range(2)] == ["m3", "m4"]
            during = metrics.registry.get_sample_value("trio_ws_broadcast_delivered_total")
    after = metrics.registry.get_sample_value
    assert during == delivered + 2
    assert after("trio_ws_broadcast_delivered_total") == delivered + 2  # kept after the end
    assert after("trio_ws_broadcast_dropped_total") == dropped + 3
    assert after("trio_ws_broadcast_subscribers") == 0


async def test_the_metrics_route_in_a_starlette_app_next_to_its_websockets() -> None:
    metrics = PrometheusMetrics()

    async def chat(websocket: object) -> None:
        ws = adopt(websocket)  # type: ignore[arg-type]
        await ws.accept()
        await ws.send_text("hi")
        await ws.close()

    app = Starlette(routes=[Route("/metrics", metrics.asgi_app()), WebSocketRoute("/ws", chat)])
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(partial(serve, app, "127.0.0.1", 0, observer=metrics))
            async with trio_websocket.open_websocket_url(urls[0] + "/ws") as client:
                assert await client.get_message() == "hi"
            scraped = await scrape(urls[0].replace("ws://", "http://") + "/metrics")
            nursery.cancel_scope.cancel()
    assert scraped["trio_ws_connections_total"] == 1
    assert scraped["trio_ws_messages_sent_total"] == 1


def test_one_registry_holds_one_set_of_trio_ws_metrics() -> None:
    registry = CollectorRegistry()
    PrometheusMetrics(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        PrometheusMetrics(registry)


async def test_the_observed_example_counts_its_websockets_and_logs_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from examples import observed

    caplog.set_level("INFO", logger="trio_ws.access")
    before = observed.metrics.totals()["connections_total"]
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(partial(observed.serve, "127.0.0.1", 0))
            async with trio_websocket.open_websocket_url(urls[0] + "/echo") as client:
                await client.send_message("hi")
                assert await client.get_message() == "hi"
            with pytest.raises(trio_websocket.ConnectionRejected):
                async with trio_websocket.open_websocket_url(
                    urls[0] + "/echo", extra_headers=[("Origin", "https://elsewhere.example")]
                ):
                    pass
            scraped = await scrape(urls[0].replace("ws://", "http://") + "/metrics")
            nursery.cancel_scope.cancel()
    assert scraped["trio_ws_connections_total"] == before + 1
    assert scraped['trio_ws_handshakes_refused_total{status="403"}'] >= 1
    lines = [r.getMessage() for r in caplog.records if r.name == "trio_ws.access"]
    assert any('"WS /echo" 101' in line and "by client, 1 in 1 out" in line for line in lines)
    assert any('"WS /echo" 403' in line and "refused by origin" in line for line in lines)

"""Requirement 7, the client side: the documented resume pattern (examples/client_resume.py)
loses nothing across a dropped connection and a server restart while the history covers the
gap, on the memory backend and on a real redis-server."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from typing import Any

import pytest
import trio

import trio_ws
from examples.client_resume import CHANNEL, ResumingFeed, make_app


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 whose open connections can be cut at once (a dropped link)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._streams: set[trio.SocketStream] = set()

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        task_status.started(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(self._relay, listeners)

    async def _relay(self, client: trio.SocketStream) -> None:
        try:
            server = await trio.open_tcp_stream("127.0.0.1", self.target_port)
        except OSError:
            await client.aclose()
            return
        self._streams |= {client, server}
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pump, client, server, nursery.cancel_scope)
                nursery.start_soon(self._pump, server, client, nursery.cancel_scope)
        finally:
            self._streams -= {client, server}
            await trio.aclose_forcefully(client)
            await trio.aclose_forcefully(server)

    @staticmethod
    async def _pump(
        source: trio.SocketStream, sink: trio.SocketStream, scope: trio.CancelScope
    ) -> None:
        try:
            while data := await source.receive_some(65536):
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        scope.cancel()

    def cut(self) -> None:
        """Drop every open connection: both sides see the TCP connection reset."""
        for stream in list(self._streams):
            # SO_LINGER 0: closing sends a reset, as a dropped link would.
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            stream.socket.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _forget_history(broadcast: trio_ws.Broadcast) -> None:
    """Delete the feed's history stream on Redis: the tests share one server (or cluster) per
    session and one channel, and a fresh client is first given the last events, which would
    be an earlier test's (its "stop" among them)."""
    backend: Any = broadcast._backend
    await backend._client.delete([backend._stream_key(CHANNEL)])


async def _publish(broadcast: trio_ws.Broadcast, numbers: range) -> None:
    for n in numbers:
        await broadcast.publish(CHANNEL, json.dumps(n))


@pytest.mark.parametrize("second_stop", ["graceful", "cancelled"])
async def test_nothing_is_lost_across_a_dropped_link_and_a_server_restart(
    broadcast_url: str, second_stop: str
) -> None:
    """Two servers in turn on one port: on Redis each with its own Broadcast (as two processes
    would have) and the publisher a third; in memory all three share one.

    The second server either stops gracefully, or is cancelled while it stops (its
    Broadcast cancelled in its exit: only the cancellation may come out)."""
    on_redis = broadcast_url != "memory://"
    port = _free_port()
    proxy = CuttableProxy(port)
    with trio.fail_after(30):
        async with (
            trio_ws.Broadcast(broadcast_url, history=1000) as publisher,
            trio.open_nursery() as nursery,
        ):
            if on_redis:
                await _forget_history(publisher)

            async def server(
                stop: trio.Event, down: trio.Event, *, task_status: trio.TaskStatus[object]
            ) -> None:
                async with contextlib.AsyncExitStack() as stack:
                    own = publisher
                    if on_redis:
                        own = await stack.enter_async_context(
                            trio_ws.Broadcast(broadcast_url, history=1000)
                        )
                    await trio_ws.serve(
                        make_app(own),
                        "127.0.0.1",
                        port,
                        shutdown_trigger=stop.wait,
                        graceful_timeout=1.0,
                        task_status=task_status,
                    )
                down.set()

            proxy_port = await nursery.start(proxy.run)
            client = ResumingFeed(f"ws://127.0.0.1:{proxy_port}/feed")
            stop_first, first_down = trio.Event(), trio.Event()
            await nursery.start(server, stop_first, first_down)
            done = trio.Event()

            async def follow() -> None:
                await client.run(min_delay=0.02, max_delay=0.2)
                done.set()

            nursery.start_soon(follow)
            await _publish(publisher, range(10))
            await client.wait_for(10)
            proxy.cut()  # a dropped link: the client reconnects with ?since=
            await _publish(publisher, range(10, 20))
            await client.wait_for(20)
            stop_first.set()  # the server goes away (closing with 1001)...
            await _publish(publisher, range(20, 30))  # ...while events go on
            await first_down.wait()
            stop_second, second_down = trio.Event(), trio.Event()
            await nursery.start(server, stop_second, second_down)  # back, on the same port
            await _publish(publisher, range(30, 40))
            await publisher.publish(CHANNEL, json.dumps("stop"))
            await done.wait()
            stop_second.set()
            if second_stop == "graceful":
                await second_down.wait()  # as after the first run
            nursery.cancel_scope.cancel()  # the proxy (and the second server, if still up)
    assert client.events == [*range(40), "stop"]
    assert client.gaps == 0
    assert client.connections >= 3  # the first, after the cut, after the restart

"""Resume a broadcast stream after a reconnect: nothing lost across a restart or a dropped link.

The server sends each event with its id; the client remembers the last id it saw and, when
``trio_ws.keep_connected`` reconnects, asks for what came after it (``?since=<id>``). The server
passes that to ``broadcast.forward(..., since=...)``, which replays what the channel's history
holds after the id, then goes live. While the history covers the time the client was away,
the client sees every event exactly once, in order. When it does not (the client was away
too long, or the id is unknown), the server says so with a ``{"gap": ...}`` message and the
client starts over from a fresh state.

    python3 examples/client_resume.py        # a demo: a server restart and a dropped link

The server side (``make_app``) is an ordinary trio_ws application; ``Broadcast(url,
history=N)`` must keep enough history (Redis: a stream per channel) for the gaps you expect.
A client that has seen nothing yet gets the last ``REPLAY`` events first.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import trio

import trio_ws

CHANNEL = "prices"
#: What a client that has seen nothing yet gets first: the most recent events, then live ones.
REPLAY = 100


# ---------------------------------------------------------------------- the server


def make_app(broadcast: trio_ws.Broadcast) -> trio_ws.WebSocketApp:
    """The feed: each event as ``{"id": ..., "data": ...}``: after ``?since=<id>`` when the
    client gives one, else the last ``REPLAY`` events; then live ones."""

    def render(event: trio_ws.BroadcastEvent) -> str:
        return json.dumps({"id": event.id, "data": event.json()})

    def on_gap(gap: trio_ws.BroadcastGap) -> str:
        return json.dumps({"gap": str(gap)})

    @trio_ws.websocket_app
    async def feed(ws: trio_ws.WebSocket) -> None:
        await ws.accept()
        since = ws.query_params.get("since") or None
        await broadcast.forward(
            CHANNEL,
            ws,
            since=since,
            history=0 if since else REPLAY,
            render=render,
            on_gap=on_gap,
        )

    return feed


# ---------------------------------------------------------------------- the client


class ResumingFeed:
    """A client of the feed that resumes where it left off.

    Args:
      base_url: the feed's URL without a query (``ws://host:port/feed``).

    Attributes:
      last_id: the id of the last event handled (``None`` before the first).
      events: the data of every event handled, in order.
      gaps: how many times the server said events were lost (then ``events`` restarts).
      connections: how many connections the client opened.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.last_id: str | None = None
        self.events: list[Any] = []
        self.gaps = 0
        self.connections = 0
        self.changed = trio.Event()  # set on every event; for demos and tests

    def url(self) -> str:
        """The URL of the next connection: with ``?since=`` once an event was seen."""
        if self.last_id is None:
            return self.base_url
        return f"{self.base_url}?since={quote(self.last_id)}"

    async def handler(self, ws: trio_ws.ClientWebSocket) -> None:
        """Handle events until one says ``"stop"``: then return, and keep_connected with it."""
        self.connections += 1
        async for message in ws.iter_json():
            if "gap" in message:
                self.gaps += 1  # what we hold is incomplete: start over from here
                self.events.clear()
                continue
            self.last_id = message["id"]
            self.events.append(message["data"])
            self.changed.set()
            self.changed = trio.Event()
            if message["data"] == "stop":
                return
        # The server or the network ended the stream: keep_connected reconnects.

    async def run(self, **options: Any) -> None:
        """Follow the feed until ``"stop"``, reconnecting (and resuming) as needed."""
        await trio_ws.keep_connected(self.url, self.handler, **options)

    async def wait_for(self, count: int) -> None:
        """Wait until ``count`` events were handled."""
        while len(self.events) < count:
            await self.changed.wait()


# ---------------------------------------------------------------------- the demo


async def serve_until(app: trio_ws.WebSocketApp, port: int, stop: trio.Event) -> None:
    """``trio_ws.serve`` on 127.0.0.1:``port`` until ``stop`` is set (a graceful shutdown)."""
    await trio_ws.serve(app, "127.0.0.1", port, shutdown_trigger=stop.wait, graceful_timeout=1.0)


async def main() -> None:
    """Publish 30 events while the feed's server restarts; the client sees each one once."""
    async with (
        trio_ws.Broadcast("memory://", history=1000) as broadcast,
        trio.open_nursery() as nursery,
    ):
        app = make_app(broadcast)
        first, second = trio.Event(), trio.Event()
        urls = await nursery.start(
            lambda task_status: trio_ws.serve(
                app, "127.0.0.1", 0, shutdown_trigger=first.wait, task_status=task_status
            )
        )
        port = int(urls[0].rsplit(":", 1)[1])
        client = ResumingFeed(f"ws://127.0.0.1:{port}/feed")
        nursery.start_soon(lambda: client.run(min_delay=0.05, max_delay=0.5))
        for n in range(10):
            await broadcast.publish(CHANNEL, json.dumps(n))
        await client.wait_for(10)
        first.set()  # the server goes down; events go on meanwhile
        for n in range(10, 20):
            await broadcast.publish(CHANNEL, json.dumps(n))
        nursery.start_soon(serve_until, app, port, second)  # back, on the same port
        for n in range(20, 30):
            await broadcast.publish(CHANNEL, json.dumps(n))
        await broadcast.publish(CHANNEL, json.dumps("stop"))
        await client.wait_for(31)
        second.set()
    print(f"{client.events[:-1] == list(range(30))=}, {client.connections} connections")


if __name__ == "__main__":
    trio.run(main)

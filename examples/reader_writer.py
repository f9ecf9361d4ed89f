"""A reader task and a writer task sharing one connection.

The handler starts a task in the connection's nursery that pushes server-side events, while
the handler itself reads commands. Sends from both tasks go out whole and in call order; only
one task receives. When the client leaves, ``iter_json`` ends, the block closes, and the
writer task is cancelled with it.

    python3 -m hypercorn --worker-class trio examples.reader_writer:app

Send ``{"subscribe": "topic"}`` and the server echoes events on that topic every 0.5 s;
``{"say": "..."}`` is answered at once.
"""

from __future__ import annotations

import trio

from trio_ws import WebSocket, websocket_app


async def push_events(ws: WebSocket, topics: set[str]) -> None:
    """The writer: publish an event for every subscribed topic, twice a second."""
    sequence = 0
    while True:
        await trio.sleep(0.5)
        for topic in sorted(topics):
            await ws.send_json({"topic": topic, "event": sequence})
        sequence += 1


async def reader_writer(ws: WebSocket) -> None:
    """The reader: handle commands until the client leaves."""
    await ws.accept()
    topics: set[str] = set()
    ws.start_soon(push_events, ws, topics)
    async for command in ws.iter_json():
        if "subscribe" in command:
            topics.add(str(command["subscribe"]))
            await ws.send_json({"subscribed": sorted(topics)})
        elif "say" in command:
            await ws.send_json({"echo": command["say"]})
        else:
            await ws.send_json({"error": "unknown command"})


app = websocket_app(reader_writer)

"""The Autobahn|Testsuite target: a raw ASGI echo application on trio_ws.serve.

``python autobahn/echo_server.py PORT`` serves until killed. Messages up to 16 MiB
(Autobahn's 9.x cases), permessage-deflate on (its 12.x and 13.x cases), no pings.
"""

from __future__ import annotations

import sys
from typing import Any

import trio

import trio_ws


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echo every message back as it came."""
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        try:
            await send({**message, "type": "websocket.send"})
        except OSError:
            return


def main() -> None:
    port = int(sys.argv[1])
    trio.run(
        lambda: trio_ws.serve(
            echo,
            "127.0.0.1",
            port,
            max_message_size=2**25,
            ping_interval=None,
            read_timeout=None,
        )
    )


if __name__ == "__main__":
    main()

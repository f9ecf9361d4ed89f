"""The engine behind TLS: hypercorn's trio TLS listener, then the engine on the TLS stream."""

from __future__ import annotations

import shutil
import ssl
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
import trio
from websockets.sync.client import connect as sync_connect

from trio_ws import serve
from trio_ws._serve import hypercorn_config

from ._raw import self_signed_cert

if TYPE_CHECKING:
    from pathlib import Path

    from trio_ws._types import Receive, Scope, Send

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _client(url: str, cert: str) -> tuple[str, str]:
    context = ssl.create_default_context(cafile=cert)
    with sync_connect(url, ssl=context, open_timeout=5, compression="deflate") as ws:
        ws.send("over tls")
        reply = str(ws.recv(timeout=5))
        ws.close(4002, "tls-bye")
    return reply, url


async def test_the_engine_serves_websockets_over_tls(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    seen: list[Any] = []
    done = trio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] != "websocket.disconnect":
            await send({**message, "type": "websocket.send"})
        seen.append((scope["scheme"], scope["asgi"]["spec_version"], message["code"]))
        done.set()

    config = hypercorn_config(certfile=cert, keyfile=key)
    stop = trio.Event()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(
                partial(serve, app, port=0, config=config, shutdown_trigger=stop.wait)
            )
            assert urls[0].startswith("wss://")
            reply, _ = await trio.to_thread.run_sync(partial(_client, urls[0], cert))
            await done.wait()
            stop.set()
    assert reply == "over tls"
    assert seen == [("wss", "2.5", 4002)]

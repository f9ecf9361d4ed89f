"""The adaptive takeover delay of structured mode's receive pump, on `trio_ws.serve` over the
ways a browser reaches it that the in-memory tests do not: TLS, a keep-alive connection's later
upgrade, and both; with permessage-deflate on and off.

The delay sits above the transport (``trio_ws/_reader.py``), so these ways reach the same
code; these tests show they do: a request/response loop whose round trips are a little shorter
than `TAKEOVER_DELAY` wakes the pump a few times in all, not once per round trip, and when the
handler then only sends, the pump still takes over and sees the client's close within
`MAX_TAKEOVER_DELAY` (plus scheduling slack on a loaded machine).

The client is a raw socket (``tests/engine/_raw.py``): a keep-alive upgrade needs a plain
request first on the same connection, which no websocket client library sends.
"""

from __future__ import annotations

import shutil
import ssl
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.lowlevel
from websockets.frames import Close, Opcode

from tests.engine._raw import connect, frame, port_of, tls_server, upgrade_request
from tests.structured._support import PumpSteps, send_until_disconnect
from trio_ws import WebSocket
from trio_ws._reader import MAX_TAKEOVER_DELAY, TAKEOVER_DELAY
from trio_ws.testing import serve_app

if TYPE_CHECKING:
    from pathlib import Path

    from tests.engine._raw import RawClient

ROUNDS = 50
#: Time the slack a loaded machine may add to the pump's takeover (never part of a guarantee).
SLACK = 1.0


def quick_loop_then_send_only(pump_steps: PumpSteps, outcome: dict[str, Any]) -> Any:
    """An ASGI app: plain HTTP gets 200; a websocket echoes `ROUNDS` messages in structured
    mode, then only sends until the client leaves (noticed by the pump alone)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"2")]})  # fmt: skip
            await send({"type": "http.response.body", "body": b"ok"})
            return
        if scope["type"] != "websocket":
            return
        async with WebSocket(scope, receive, send) as ws:
            await ws.accept()
            outcome["http_version"] = scope["http_version"]
            outcome["scheme"] = scope["scheme"]
            for _ in range(ROUNDS):
                await ws.send_text(await ws.receive_text())
            outcome["loop_steps"] = pump_steps.steps
            await send_until_disconnect(ws, 0.01)
            outcome["noticed"] = (trio.current_time(), ws.close_code)

    return app


async def next_text(client: RawClient) -> str:
    received = await client.next_frame()
    assert received.opcode is Opcode.TEXT, received
    return received.data.decode()


NEEDS_OPENSSL = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
WAYS = [
    pytest.param("tls", marks=NEEDS_OPENSSL),
    "keep-alive",
    pytest.param("tls keep-alive", marks=NEEDS_OPENSSL),
]


@pytest.mark.parametrize("compression", [False, True], ids=["plain", "deflate"])
@pytest.mark.parametrize("way", WAYS)
async def test_a_quick_loop_wakes_the_pump_rarely_and_a_later_silence_is_seen(
    way: str, compression: bool, tmp_path: Path
) -> None:
    pump_steps = PumpSteps()
    outcome: dict[str, Any] = {}
    app = quick_loop_then_send_only(pump_steps, outcome)
    extra = b"Sec-WebSocket-Extensions: permessage-deflate\r\n" if compression else b""
    with trio.fail_after(60):
        async with AsyncExitStack() as stack:
            tls: ssl.SSLContext | None = None
            if "tls" in way:
                port, cert = await stack.enter_async_context(tls_server(tmp_path, app))
                tls = ssl.create_default_context(cafile=cert)
                tls.set_alpn_protocols(["http/1.1"])
            else:
                port = port_of(await stack.enter_async_context(serve_app(app)))
            request = upgrade_request(extra)
            keep_alive = "keep-alive" in way
            client = await stack.enter_async_context(
                await connect(port, request, keep_alive=keep_alive, tls=tls)
            )
            assert client.head.startswith(b"HTTP/1.1 101"), client.head
            assert (b"permessage-deflate" in client.head.lower()) is compression
            trio.lowlevel.add_instrument(pump_steps)
            try:
                for i in range(ROUNDS):
                    await trio.sleep(0.6 * TAKEOVER_DELAY)
                    await client.stream.send_all(frame(0x1, str(i).encode()))
                    assert await next_text(client) == str(i)
                assert await next_text(client) == "tick"
            finally:
                trio.lowlevel.remove_instrument(pump_steps)
            closed_at = trio.current_time()
            await client.stream.send_all(frame(0x8, Close(4009, "bye").serialize()))
            while "noticed" not in outcome:
                received = await client.next_frame()  # ticks, then the close's answer
                if received.opcode is Opcode.CLOSE:
                    break
        # (leaving the stack stops the server, which waits for the handler)
    assert outcome["scheme"] == ("wss" if "tls" in way else "ws")
    # A fixed 50 ms delay wakes the pump about once per round trip here.
    assert outcome["loop_steps"] <= ROUNDS / 4, outcome
    assert "noticed" in outcome, outcome
    noticed_at, code = outcome["noticed"]
    assert code == 4009
    assert noticed_at - closed_at <= MAX_TAKEOVER_DELAY + SLACK, outcome

"""The engine's cancellation promises, with permessage-deflate on and off.

* A ``send`` cancelled before its frame was written is not sent and leaves the connection
  usable: the next send arrives intact, and the close is the application's.
* A ``receive``'s deadline is never held by another task's stuck ``send``: the pong it owes
  waits in the pending-output buffer and goes out after the stuck frame.
"""

from __future__ import annotations

import shutil
import ssl
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing
from websockets.frames import Opcode

from trio_ws.testing import serve_app

from ._raw import close_code, connect, frame, port_of, tls_server, upgrade_request

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from trio_ws._types import Receive, Scope, Send

COMPRESSION = [pytest.param(True, id="deflate"), pytest.param(False, id="no-compression")]
_DEFLATE_OFFER = b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
#: Tiny frames: a full socket takes all of one or none of it (a partly written frame would
#: abort the connection, as documented).
_MESSAGE = "m"


@asynccontextmanager
async def _server(
    app: Any, tls: bool, directory: Path, settings: Any
) -> AsyncIterator[tuple[int, ssl.SSLContext | None]]:
    """The app on trio_ws.serve, plain or TLS: its port and the client's TLS context."""
    if not tls:
        async with serve_app(app, **settings) as url:
            yield port_of(url), None
        return
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    async with tls_server(directory, app, **settings) as (port, cert):
        yield port, ssl.create_default_context(cafile=cert)


def _offer(deflate: bool) -> bytes:
    return upgrade_request(_DEFLATE_OFFER if deflate else b"")


def _texts(frames: list[Any]) -> list[str]:
    return [bytes(item.data).decode() for item in frames if item.opcode is Opcode.TEXT]


@pytest.mark.parametrize("tls", [pytest.param(False, id="tcp"), pytest.param(True, id="tls")])
@pytest.mark.parametrize("deflate", COMPRESSION)
async def test_a_send_cancelled_before_its_frame_is_written_leaves_the_connection_usable(
    deflate: bool, tls: bool, tmp_path: Path
) -> None:
    outcome: dict[str, Any] = {}
    cancelled = trio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        for index in range(1_000_000):  # fills the socket: the client does not read yet
            with trio.move_on_after(0.3) as timeout:
                await send({"type": "websocket.send", "text": f"{index:06d}{_MESSAGE}"})
            if timeout.cancelled_caught:
                outcome["cancelled"] = index
                break
        cancelled.set()
        try:
            await send({"type": "websocket.send", "text": "after"})
            await send({"type": "websocket.close", "code": 4000})
        except OSError as exc:
            outcome["error"] = exc

    settings: Any = {"ping_interval": None, "close_timeout": 0.2}
    with trio.fail_after(30):
        async with _server(app, tls, tmp_path, settings) as (port, context):  # noqa: SIM117
            async with await connect(port, _offer(deflate), rcvbuf=4096, tls=context) as client:
                assert (b"permessage-deflate" in client.head) is deflate
                await cancelled.wait()
                frames = await client.frames_until_eof()
    assert "error" not in outcome, outcome
    sent = outcome["cancelled"]
    texts = _texts(frames)
    assert texts[-1] == "after"
    assert texts[:-1] == [f"{index:06d}{_MESSAGE}" for index in range(sent)]  # not the cancelled
    assert close_code(frames) == 4000


@pytest.mark.parametrize("deflate", COMPRESSION)
async def test_a_receive_deadline_is_not_held_by_another_tasks_stuck_send(deflate: bool) -> None:
    """One task's send is stuck (the client does not read); another task's receive reads a
    ping under ``move_on_after(0.5)``: it returns on time, and the pong goes out later."""
    waited: list[float] = []
    stuck = trio.Event()
    timed_out = trio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})

        async def flood() -> None:
            for index in range(1_000_000):
                with trio.move_on_after(0.3) as timeout:
                    await send({"type": "websocket.send", "text": f"{index:06d}{_MESSAGE}"})
                if timeout.cancelled_caught:
                    break
            stuck.set()
            await timed_out.wait()
            await send({"type": "websocket.send", "text": "after"})
            await send({"type": "websocket.close", "code": 4000})

        async with trio.open_nursery() as nursery:
            nursery.start_soon(flood)
            await stuck.wait()
            # A second sender blocks (holding the connection's send turn) on one big message.
            nursery.start_soon(send, {"type": "websocket.send", "bytes": bytes(2**20)})
            await trio.testing.wait_all_tasks_blocked()
            started = trio.current_time()
            with trio.move_on_after(0.5):
                await receive()  # reads the client's ping, owes a pong, gets no message
            waited.append(trio.current_time() - started)
            timed_out.set()

    with trio.fail_after(30):
        async with (
            serve_app(app, ping_interval=None, close_timeout=0.2) as url,
            await connect(port_of(url), _offer(deflate), rcvbuf=4096) as client,
        ):
            await stuck.wait()
            await client.stream.send_all(frame(0x9, b"are you there"))
            await timed_out.wait()
            frames = await client.frames_until_eof()
    assert len(waited) == 1
    assert waited[0] < 1.5, f"the receive with a 0.5 s deadline took {waited[0]:.2f} s"
    pongs = [bytes(item.data) for item in frames if item.opcode is Opcode.PONG]
    assert pongs == [b"are you there"]
    assert _texts(frames)[-1] == "after"
    assert close_code(frames) == 4000

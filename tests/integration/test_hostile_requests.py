"""Single requests that crash a whole hypercorn 0.18 trio server, and trio_ws.serve surviving them.

The ``plain hypercorn`` tests document the crash (they pass while hypercorn still crashes; if one
starts failing, hypercorn fixed it upstream and the guard may be simplified). The ``trio_ws``
tests check each request is answered (HTTP 400, or a closed connection), logged once, and that a
new client still connects and echoes afterwards.
"""

from __future__ import annotations

import logging
from functools import partial

import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve
from trio_websocket import open_websocket_url

from trio_ws import LocalProtocolError
from trio_ws.testing import serve_app

from ._support import CLIENT, HOSTILE, echo, forced_subprotocol, port_of, send_raw, upgrade_request

pytestmark = pytest.mark.hypercorn


async def _lifespan_raising(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "lifespan":
        raise RuntimeError("no lifespan")  # plain hypercorn needs apps to raise here
    await forced_subprotocol(scope, receive, send)


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_plain_hypercorn_crashes_on(case: str) -> None:
    """The request makes ``hypercorn.trio.serve`` itself raise: the whole server is gone."""
    path, headers, trailing = HOSTILE[case]
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.graceful_timeout = 0.5
    config.errorlog = None  # the crash is the point; keep the output quiet
    crashed = False
    with trio.fail_after(10):
        try:
            async with trio.open_nursery() as nursery:
                binds = await nursery.start(
                    partial(hypercorn_serve, _lifespan_raising, config, mode="asgi")
                )
                await send_raw(port_of(binds[0]), upgrade_request(path, headers) + trailing)
                await trio.sleep(0.5)  # give the crash time to reach serve()
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup:
            crashed = True
    assert crashed, f"hypercorn survived {case}: upstream fixed it"


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_trio_ws_serve_answers_logs_once_and_keeps_serving(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Answered with 400 or a close, one log record about it, and the next client is served."""
    path, headers, trailing = HOSTILE[case]
    caplog.set_level(logging.INFO, logger="hypercorn.error")

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        # A well-behaved app: OSError from send means the client is gone (ASGI 2.4), and the
        # LocalProtocolError trio_ws raises for the unoffered subprotocol is handled.
        try:
            await forced_subprotocol(scope, receive, send)
        except (OSError, LocalProtocolError):
            return

    with trio.fail_after(15):
        async with serve_app(app) as url:
            answer = await send_raw(port_of(url), upgrade_request(path, headers) + trailing)
            answers = (b"HTTP/1.1 400",)
            if case in ("trailing-byte", "malformed-deflate"):
                # trailing-byte:
                # if the app's accept wins the race against the reading of the stray byte,
                # the upgrade succeeds and the byte is a framing error instead.
                # malformed-deflate: trio_ws's engine declines the bad offer and accepts
                # without compression, as RFC 6455 allows (hypercorn's stream answers 400).
                answers += (b"HTTP/1.1 101",)
            assert answer == b"" or answer.startswith(answers), answer[:100]
            for _ in range(2):
                async with open_websocket_url(url + "/", **CLIENT) as ws:
                    await ws.send_message("still here")
                    assert await ws.get_message() == "still here"
    problems = [
        record
        for record in caplog.records
        if record.levelno >= logging.WARNING and "Lifespan" not in record.getMessage()
    ]
    # 0: the accept won the race, or the engine declined the bad deflate offer
    expected = {0, 1} if case in ("trailing-byte", "malformed-deflate") else {1}
    assert len(problems) in expected, [r.getMessage() for r in problems]


async def test_unoffered_subprotocol_raises_into_the_app() -> None:
    """The app that accepted an unoffered subprotocol gets LocalProtocolError; client gets 400."""
    answers: list[bytes] = []

    async def scenario() -> None:
        async with serve_app(forced_subprotocol) as url:
            answers.append(await send_raw(port_of(url), upgrade_request("/sub-forced")))

    with trio.fail_after(10), pytest.raises(LocalProtocolError, match="did not offer"):
        await scenario()
    assert answers[0].startswith(b"HTTP/1.1 400")


async def test_accept_headers_hypercorn_cannot_send_raise_into_the_app() -> None:
    """A sec-websocket-protocol accept header raises LocalProtocolError; client gets 500."""

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "websocket" and scope["path"] == "/bad":
            await receive()
            await send({"type": "websocket.accept", "headers": [(b"sec-websocket-protocol", b"x")]})
        await echo(scope, receive, send)

    answers: list[bytes] = []

    async def scenario() -> None:
        async with serve_app(app) as url:
            answers.append(await send_raw(port_of(url), upgrade_request("/bad")))
            async with open_websocket_url(url, **CLIENT) as ws:  # still serving
                await ws.send_message("ok")
                assert await ws.get_message() == "ok"

    with trio.fail_after(10), pytest.raises(LocalProtocolError, match="cannot be set"):
        await scenario()
    assert answers[0].startswith(b"HTTP/1.1 500")

"""`trio_ws.testing.lifespan`: an app's lifespan around in-memory connections.

The applications are real Starlette applications (a lifespan that yields state, a
`WebSocketRoute`) and a trio_ws `Broadcast` kept in that state, the case a test could not
write before (``'State' object has no attribute 'broadcast'``). Raw ASGI apps cover the
protocol's corners Starlette never produces (a failure reported without raising, a reply out
of turn).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import pytest
import trio
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

import trio_ws
from trio_ws.testing import (
    AppProtocolError,
    ConnectionRejected,
    LifespanApp,
    LifespanError,
    LifespanNotSupported,
    LifespanShutdownFailed,
    LifespanStartupFailed,
    connect,
    lifespan,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from trio_ws._types import Message, Receive, Scope, Send

TIMEOUT = 5


async def chat(ws: trio_ws.WebSocket) -> None:
    """Relay this socket's text to the room and the room to this socket; say "joined" once
    subscribed, so that a test knows when a publish reaches this socket."""
    broadcast: trio_ws.Broadcast = ws.state.broadcast
    await ws.accept()

    async def publish_incoming() -> None:
        async for text in ws.iter_text():
            await broadcast.publish("room", text)

    async with broadcast.subscribe("room") as subscriber:
        await ws.send_text("joined")
        ws.start_soon(publish_incoming)
        async for event in subscriber:
            await ws.send_text(str(event.message))


def chat_app(events: list[str]) -> Starlette:
    @contextlib.asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        async with trio_ws.Broadcast("memory://") as broadcast:
            yield {"broadcast": broadcast}
        events.append("shutdown")

    return Starlette(
        routes=[WebSocketRoute("/ws", trio_ws.websocket_app(chat))], lifespan=app_lifespan
    )


async def test_connections_see_the_broadcast_kept_in_lifespan_state() -> None:
    """Two clients of a Starlette app share the Broadcast its lifespan started."""
    events: list[str] = []
    app = chat_app(events)
    with trio.fail_after(TIMEOUT):
        async with lifespan(app) as running:
            assert events == ["startup"]
            assert isinstance(running.state["broadcast"], trio_ws.Broadcast)
            async with connect(running, "/ws") as alice, connect(running, "/ws") as bob:
                assert await alice.receive_text() == "joined"
                assert await bob.receive_text() == "joined"
                await alice.send_text("hello")
                assert await alice.receive_text() == "hello"
                assert await bob.receive_text() == "hello"
            assert events == ["startup"]
        assert events == ["startup", "shutdown"]


async def test_without_the_lifespan_the_state_is_empty() -> None:
    """The failure this helper fixes: connect() alone runs no lifespan, so the handler's
    ``ws.state.broadcast`` raises and the handshake is refused."""
    app = chat_app([])
    with trio.fail_after(TIMEOUT):
        with pytest.raises(AttributeError, match="broadcast"):
            async with connect(app, "/ws"):
                pass  # pragma: no cover - the handshake fails


async def test_each_connection_gets_its_own_copy_of_the_state() -> None:
    """What a connection stores in its state stays its own; startup values are shared."""
    seen: list[dict[str, Any]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["shared"] = shared
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        scope["state"]["mine"] = len(seen)
        seen.append(scope["state"])
        await receive()
        await send({"type": "websocket.accept"})

    shared = object()
    with trio.fail_after(TIMEOUT):
        async with lifespan(app) as running:
            for _ in range(2):
                async with connect(running, "/") as client:
                    assert client.scope["state"] is seen[-1]
    assert seen == [{"shared": shared, "mine": 0}, {"shared": shared, "mine": 1}]
    assert running.state == {"shared": shared}


async def test_a_starlette_startup_failure_is_typed_and_carries_the_apps_message() -> None:
    """The body never runs; the error says the app's message and chains its exception."""

    @contextlib.asynccontextmanager
    async def broken(app: Starlette) -> AsyncIterator[None]:
        raise OSError("redis://127.0.0.1:1 refused the connection")
        yield  # pragma: no cover

    app = Starlette(lifespan=broken)
    body_ran = False
    with trio.fail_after(TIMEOUT), pytest.raises(LifespanStartupFailed) as caught:
        async with lifespan(app):
            body_ran = True  # pragma: no cover
    assert not body_ran
    assert caught.value.message == "redis://127.0.0.1:1 refused the connection"
    assert "startup failed: redis://127.0.0.1:1 refused" in str(caught.value)
    assert isinstance(caught.value.__cause__, OSError)
    assert isinstance(caught.value, LifespanError)
    # What Starlette reported (its traceback) is kept too.
    assert caught.value.reported is not None
    assert "OSError: redis://127.0.0.1:1 refused" in caught.value.reported


async def test_a_starlette_shutdown_failure_is_typed_and_carries_the_apps_message() -> None:
    @contextlib.asynccontextmanager
    async def breaks_on_exit(app: Starlette) -> AsyncIterator[None]:
        yield
        raise RuntimeError("could not flush the queue")

    with trio.fail_after(TIMEOUT), pytest.raises(LifespanShutdownFailed) as caught:
        async with lifespan(Starlette(lifespan=breaks_on_exit)):
            pass
    assert caught.value.message == "could not flush the queue"
    assert isinstance(caught.value.__cause__, RuntimeError)


def reporting_app(startup: Message, shutdown: Message | None = None) -> Any:
    """A raw lifespan app that answers with the given messages and never raises."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send(startup)
        if shutdown is not None:
            await receive()
            await send(shutdown)

    return app


async def test_a_startup_failure_reported_without_raising_is_not_a_hang() -> None:
    """``lifespan.startup.failed`` alone fails at once (asgi-lifespan waits out 5 s here)."""
    app = reporting_app({"type": "lifespan.startup.failed", "message": "no database"})
    with trio.fail_after(TIMEOUT), pytest.raises(LifespanStartupFailed) as caught:
        async with lifespan(app):
            pass  # pragma: no cover
    assert caught.value.message == caught.value.reported == "no database"
    assert caught.value.__cause__ is None


async def test_a_shutdown_failure_reported_without_raising() -> None:
    app = reporting_app(
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.failed", "message": "left a file behind"},
    )
    with trio.fail_after(TIMEOUT), pytest.raises(LifespanShutdownFailed, match="left a file"):
        async with lifespan(app):
            pass


async def test_an_app_that_ends_while_started_fails_the_shutdown() -> None:
    app = reporting_app({"type": "lifespan.startup.complete"})
    with trio.fail_after(TIMEOUT), pytest.raises(LifespanShutdownFailed) as caught:
        async with lifespan(app):
            pass
    assert "returned without sending 'lifespan.shutdown.complete'" in caught.value.message


async def test_an_app_without_a_lifespan_is_reported() -> None:
    """An app that refuses the lifespan scope before receiving says it has none."""

    async def http_only(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError("only http here")

    with trio.fail_after(TIMEOUT), pytest.raises(LifespanNotSupported) as caught:
        async with lifespan(http_only):
            pass  # pragma: no cover
    assert isinstance(caught.value.__cause__, ValueError)
    assert caught.value.message == "only http here"


async def test_trio_ws_apps_answer_the_lifespan() -> None:
    """A bare `websocket_app` has an empty lifespan: it starts and stops cleanly."""
    app = trio_ws.websocket_app(chat)
    with trio.fail_after(TIMEOUT):
        async with lifespan(app) as running:
            assert isinstance(running, LifespanApp)
            assert running.state == {}


async def test_a_reply_out_of_turn_is_refused_into_the_app() -> None:
    """Sending the shutdown reply at startup raises AppProtocolError inside the app, and the
    startup fails with it as the cause."""
    app = reporting_app({"type": "lifespan.shutdown.complete"})
    with trio.fail_after(TIMEOUT), pytest.raises(LifespanStartupFailed) as caught:
        async with lifespan(app):
            pass  # pragma: no cover
    assert isinstance(caught.value.__cause__, AppProtocolError)
    assert "'lifespan.shutdown.complete' while the lifespan is starting up" in caught.value.message


async def test_an_exception_in_the_body_comes_out_unwrapped_and_skips_shutdown() -> None:
    events: list[str] = []
    with trio.fail_after(TIMEOUT), pytest.raises(KeyError, match="boom"):
        async with lifespan(chat_app(events)):
            raise KeyError("boom")
    assert events == ["startup"]  # cancelled, as a crashed server would leave it


async def test_a_refused_connection_inside_the_lifespan_still_shuts_down() -> None:
    """A test that expects a rejection and catches it keeps the lifespan's shutdown."""
    events: list[str] = []
    app = chat_app(events)
    with trio.fail_after(TIMEOUT):
        async with lifespan(app) as running:
            with pytest.raises(ConnectionRejected) as caught:
                async with connect(running, "/nowhere"):
                    pass  # pragma: no cover
            assert caught.value.status_code == 403
    assert events == ["startup", "shutdown"]


async def test_receiving_twice_before_answering_is_refused_into_the_app() -> None:
    async def impatient(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await receive()

    with trio.fail_after(TIMEOUT), pytest.raises(LifespanStartupFailed) as caught:
        async with lifespan(impatient):
            pass  # pragma: no cover
    assert isinstance(caught.value.__cause__, AppProtocolError)
    assert "send lifespan.startup.complete or lifespan.startup.failed first" in (
        caught.value.message
    )


async def test_cancelling_the_body_cancels_the_lifespan() -> None:
    events: list[str] = []
    with trio.move_on_after(0.01) as scope:
        async with lifespan(chat_app(events)):
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert events == ["startup"]

"""``lifespan()``: run an ASGI application's lifespan around a test, in memory.

A server runs an application's lifespan (``scope["type"] == "lifespan"``) once, before the
first connection, and gives every connection a copy of the state the startup filled in
(``scope["state"]``, which Starlette shows as ``websocket.state`` / ``request.state``).
`connect` alone does neither, so an app that keeps, say, its `Broadcast` in lifespan state
sees an empty ``State``. `lifespan` is the missing server part:

    async with trio_ws.testing.lifespan(app) as running:
        async with trio_ws.testing.connect(running, "/ws") as client:
            ...

The runner is ours rather than asgi-lifespan's ``LifespanManager`` (2.1.0, last released in
2023), which under trio_ws's test client gives: a ``lifespan.startup.failed`` sent without
raising ignored until a fixed 5 s ``TimeoutError``; a startup or shutdown exception wrapped in
an ``ExceptionGroup`` from its nursery; no typed error and no message; every connection
sharing the lifespan's own dict instead of a copy.
"""

from __future__ import annotations

import enum
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from ._exceptions import AppProtocolError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from .._types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "LifespanApp",
    "LifespanError",
    "LifespanNotSupported",
    "LifespanShutdownFailed",
    "LifespanStartupFailed",
    "lifespan",
]


class LifespanError(Exception):
    """The application's lifespan did not start or stop cleanly.

    The app's own exception, when it raised one, is the ``__cause__``.

    Attributes:
      message: why, in the app's words: ``str()`` of the exception it raised, or else the
        ``message`` of its ``lifespan.startup.failed`` / ``lifespan.shutdown.failed``.
      reported: the ``message`` of that ``...failed`` event as the app sent it (Starlette
        sends the whole traceback), or ``None`` if it sent none.
    """

    def __init__(self, description: str, message: str = "", reported: str | None = None) -> None:
        self.message = message
        self.reported = reported
        super().__init__(f"{description}: {message}" if message else description)


class LifespanStartupFailed(LifespanError):
    """The app reported ``lifespan.startup.failed``, or raised or returned during startup."""


class LifespanShutdownFailed(LifespanError):
    """The app reported ``lifespan.shutdown.failed``, or raised or returned during shutdown."""


class LifespanNotSupported(LifespanError):
    """The app raised or returned before asking for the first lifespan message.

    That is how an ASGI application says it has no lifespan (a server then goes on without
    one). `lifespan` raises instead, because a test that asks for the lifespan expects one.
    """


class LifespanApp:
    """The application behind `lifespan`, giving each connection a copy of the lifespan state.

    Call it as the ASGI application (``connect(running, "/ws")``). For ``http`` and
    ``websocket`` scopes it sets ``scope["state"]`` to a shallow copy of `state`, as a server
    does (so values stored at startup, such as a `Broadcast`, are shared, while what a
    connection stores stays its own); other scopes reach the app unchanged.

    Attributes:
      app: the wrapped application.
      state: the lifespan state, as the app's startup left it.
    """

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app on one connection, with ``scope["state"]`` set for ``http``/``websocket``."""
        if scope.get("type") in ("http", "websocket"):
            scope["state"] = dict(self.state)
        await self.app(scope, receive, send)


class _Phase(enum.Enum):
    NOT_ASKED = "not started (the app has not called receive())"
    STARTUP = "starting up"
    STARTED = "started"
    SHUTDOWN = "shutting down"
    DONE = "over"


_REPLIES = {
    _Phase.STARTUP: ("lifespan.startup.complete", "lifespan.startup.failed"),
    _Phase.SHUTDOWN: ("lifespan.shutdown.complete", "lifespan.shutdown.failed"),
}
# The phase a reply leads to. It changes in send() itself: an app may call receive() again
# before the task waiting for its reply runs.
_AFTER_REPLY = {
    "lifespan.startup.complete": _Phase.STARTED,
    "lifespan.startup.failed": _Phase.DONE,
    "lifespan.shutdown.complete": _Phase.DONE,
    "lifespan.shutdown.failed": _Phase.DONE,
}


class _LifespanRun:
    """One run of the lifespan protocol: the server side of ``receive``/``send``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.phase = _Phase.NOT_ASKED
        self.asked_for_shutdown = trio.Event()
        self.reply: Message | None = None
        self.replied = trio.Event()  # set by the app's reply, or when the app ends
        self.app_done = False
        self.app_exception: Exception | None = None

    async def run_app(self) -> None:
        scope: Scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self.receive, self.send)
        except Exception as exc:  # reported by startup()/shutdown(), never by the nursery
            self.app_exception = exc
        finally:
            self.app_done = True
            self.replied.set()

    async def receive(self) -> Message:
        if self.phase is _Phase.NOT_ASKED:
            self.phase = _Phase.STARTUP
            return {"type": "lifespan.startup"}
        if self.phase is _Phase.STARTED:
            await self.asked_for_shutdown.wait()
            self.phase = _Phase.SHUTDOWN
            return {"type": "lifespan.shutdown"}
        if self.phase in _REPLIES:
            answer = " or ".join(_REPLIES[self.phase])
            raise AppProtocolError(
                f"receive() while the lifespan is {self.phase.value}: send {answer} first"
            )
        raise AppProtocolError("receive() after the lifespan ended: there are no more messages")

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        expected = _REPLIES.get(self.phase, ())
        if not isinstance(kind, str) or kind not in expected:
            raise AppProtocolError(
                f"unexpected lifespan message {kind!r} while the lifespan is "
                f"{self.phase.value}; expected one of {list(expected)}"
            )
        self.reply = message
        self.phase = _AFTER_REPLY[kind]
        self.replied.set()

    async def startup(self) -> None:
        await self.replied.wait()
        failed = self._failure(_Phase.STARTUP)
        if failed is not None:
            if self.phase is _Phase.NOT_ASKED:
                raise LifespanNotSupported(
                    "the app raised or returned before its first receive() on the lifespan "
                    "scope, which is how an app says it has no lifespan",
                    *failed,
                ) from self.app_exception
            raise LifespanStartupFailed("the app's lifespan startup failed", *failed) from (
                self.app_exception
            )

    async def shutdown(self) -> None:
        self.reply = None
        self.replied = trio.Event()
        if self.app_done:  # the app ended while started: the shutdown cannot happen
            self.replied.set()
        self.asked_for_shutdown.set()
        await self.replied.wait()
        failed = self._failure(_Phase.SHUTDOWN)
        if failed is not None:
            raise LifespanShutdownFailed("the app's lifespan shutdown failed", *failed) from (
                self.app_exception
            )

    def _failure(self, phase: _Phase) -> tuple[str, str | None] | None:
        """``(message, reported)`` of how ``phase`` failed, or ``None`` if it completed."""
        complete, failed = _REPLIES[phase]
        reported = None
        if self.reply is not None:
            if self.reply["type"] == complete:
                return None
            if self.reply["type"] == failed:
                reported = str(self.reply.get("message", ""))
        if self.app_exception is not None:
            return str(self.app_exception) or type(self.app_exception).__name__, reported
        if reported is not None:
            return reported, reported
        return f"the app returned without sending {complete!r}", None


@asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[LifespanApp]:
    """Run ``app``'s ASGI lifespan around the body: startup on entry, shutdown on exit.

    Yields a `LifespanApp` to pass to `connect` instead of ``app``: each
    of its connections sees a copy of the lifespan state in ``scope["state"]``, so what the
    startup stored (``yield {"broadcast": broadcast}`` in a Starlette lifespan) is there as
    ``websocket.state.broadcast``:

        async with lifespan(app) as running:
            async with connect(running, "/ws") as client:
                ...

    The lifespan task runs in the test's own Trio run (no thread), in a nursery owned by this
    context manager, so the app may start tasks (a Broadcast's listener) that outlive startup.
    (`serve_app` runs a real server, which runs the lifespan itself: give it ``app``.)

    Raises:
      LifespanStartupFailed: the app sent ``lifespan.startup.failed`` (its ``message`` is the
        error's), raised during startup (its exception is the ``__cause__``), or returned.
        The body does not run.
      LifespanShutdownFailed: likewise for the shutdown after the body, or the app ended
        before it was asked to shut down.
      LifespanNotSupported: the app raised or returned before its first ``receive()``.
      AppProtocolError: raised *into the app's* ``send``/``receive`` for a message out of turn.
      Exception: what the body raised comes out unchanged (not in an exception group); the
        shutdown is then skipped and the app cancelled, as a server that crashed would.

    Cancellation:
      Cancelling the startup, the body or the shutdown cancels the lifespan task too, and the
      `trio.Cancelled` propagates. Bound the whole with ``trio.fail_after`` as any test.
    """
    run = _LifespanRun(app)
    failure: BaseException | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run.run_app)
        try:
            await run.startup()
            yield LifespanApp(app, run.state)
            await run.shutdown()
        except BaseException as exc:  # raised outside the nursery, so never in a group
            failure = exc
        nursery.cancel_scope.cancel("trio_ws.testing.lifespan() is done with the app")
    if failure is not None:
        if run.app_exception is not None and failure.__cause__ is not run.app_exception:
            failure.add_note(f"trio_ws.testing.lifespan: the app also raised {run.app_exception!r}")
        raise failure

"""Real servers for tests: `serve_app` runs an application on 127.0.0.1 with trio_ws.serve."""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, Unpack

import trio

from .._serve import ServerSettings, serve

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from .._types import ASGIApp, Receive, Scope, Send

__all__ = ["serve_app"]

#: The grace period test servers get unless one is passed: short, so teardown stays fast.
_TEST_GRACEFUL_TIMEOUT = 1.0


def _without_cancellation(error: BaseException) -> BaseException | None:
    """``error`` minus the ``trio.Cancelled`` parts (a shutdown deadline is not an app error)."""
    if isinstance(error, trio.Cancelled):
        return None
    if isinstance(error, BaseExceptionGroup):
        _, rest = error.split(trio.Cancelled)
        return rest
    return error


def _recording(app: ASGIApp, errors: list[BaseException]) -> ASGIApp:
    async def recording_app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        except BaseException as error:
            if scope["type"] != "lifespan":  # raising on lifespan is how apps opt out of it
                recorded = _without_cancellation(error)
                if recorded is not None:
                    errors.append(recorded)
            raise

    return recording_app


@asynccontextmanager
async def serve_app(
    app: ASGIApp,
    *,
    shutdown_close_code: int = 1001,
    **settings: Unpack[ServerSettings],
) -> AsyncIterator[str]:
    """Serve ``app`` on ``127.0.0.1`` (a free port) for the duration of the ``async with``.

    Yields the server's ``ws://127.0.0.1:PORT`` URL (append the path). The server runs in a
    nursery inside this context manager, in the calling task. On exit it shuts down gracefully,
    as `trio_ws.serve` does on its trigger: open websockets are closed with
    ``shutdown_close_code`` and connections get ``graceful_timeout`` (1 s here unless passed).

    hypercorn only logs the exceptions an application raises; this records them (except the
    ``lifespan`` scope's, and except cancellation at the shutdown deadline) and raises them when
    the block exits: the exception itself if there was one, an `ExceptionGroup` if there
    were several. If the block itself raised, its exception propagates and the recorded ones are
    attached to it as a note.

    Args:
      app: any ASGI application.
      shutdown_close_code: 1001 or 1012, as for `trio_ws.serve`.
      **settings: `trio_ws.ServerSettings` keys, passed on to `trio_ws.serve`.

    Raises:
      BaseException: whatever the application raised while being served (see above).
      OSError: no port could be bound.

    Cancellation:
      If the enclosing scope is cancelled, the server stops at once (no graceful shutdown) and
      recorded application errors are not raised.
    """
    settings.setdefault("graceful_timeout", _TEST_GRACEFUL_TIMEOUT)
    errors: list[BaseException] = []
    stop = trio.Event()
    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            urls: list[str] = await nursery.start(
                partial(
                    serve,
                    _recording(app, errors),
                    "127.0.0.1",
                    0,
                    shutdown_close_code=shutdown_close_code,
                    shutdown_trigger=stop.wait,
                    **settings,
                )
            )
            try:
                yield urls[0]
            except BaseException as error:
                body_error = error
                if errors:
                    error.add_note(f"the application also raised while served: {errors!r}")
                raise
            finally:
                stop.set()
    except BaseExceptionGroup as group:
        # The block's own exception went through our nursery: give it back unwrapped.
        if body_error is not None and list(group.exceptions) == [body_error]:
            raise body_error from body_error.__cause__
        raise
    if errors:
        if len(errors) == 1:
            raise errors[0]
        raise ExceptionGroup("the application raised while served", _as_exceptions(errors))


def _as_exceptions(errors: list[BaseException]) -> list[Exception]:
    result: list[Exception] = []
    for error in errors:
        if isinstance(error, Exception):
            result.append(error)
        else:
            wrapped: Any = RuntimeError(f"the application raised {error!r}")
            wrapped.__cause__ = error
            result.append(wrapped)
    return result

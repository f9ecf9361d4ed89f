"""Plain hypercorn (the trio worker users run with ``--worker-class trio``) on 127.0.0.1:0.

``plain_hypercorn(app)`` serves ``app`` with ``hypercorn.trio.serve`` in a private nursery,
yields the ``ws://127.0.0.1:PORT`` base URL, records exceptions the app raises (hypercorn only
logs them), and shuts down gracefully on exit. Every test still bounds itself with
``trio.fail_after``; clients use short timeouts (``CLIENT``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any

import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

#: trio-websocket's defaults wait 60 s for a handshake or a close; fail fast instead.
CLIENT: dict[str, Any] = {"connect_timeout": 5, "disconnect_timeout": 2, "max_message_size": 2**24}


def _recording(app: Any, errors: list[BaseException]) -> Any:
    async def recording(scope: Any, receive: Any, send: Any) -> None:
        try:
            await app(scope, receive, send)
        except trio.Cancelled:
            raise
        except BaseException as exc:
            if scope["type"] != "lifespan":  # raising on lifespan is how an app opts out
                errors.append(exc)
            raise

    return recording


@asynccontextmanager
async def serve_plain_hypercorn(
    app: Any,
    *,
    graceful_timeout: float = 1.0,
    expect_errors: bool = False,
    errors: list[BaseException] | None = None,
    **config: Any,
) -> AsyncIterator[str]:
    """Serve ``app``; yield its ``ws://`` base URL.

    The app's exceptions fail the block at exit, unless ``expect_errors`` is true or an
    ``errors`` list is given to collect them in.
    """
    settings = Config()
    settings.bind = ["127.0.0.1:0"]
    settings.graceful_timeout = graceful_timeout
    settings.accesslog = None
    for name, value in config.items():
        setattr(settings, name, value)
    collect = errors is not None
    errors = [] if errors is None else errors
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            partial(
                serve,
                _recording(app, errors),
                settings,
                shutdown_trigger=shutdown.wait,
                mode="asgi",
            )
        )
        try:
            yield binds[0].replace("http://", "ws://", 1)
        finally:
            shutdown.set()
    if not (expect_errors or collect):
        assert not errors, errors


PlainHypercorn = Callable[..., AbstractAsyncContextManager[str]]


@pytest.fixture
def plain_hypercorn() -> PlainHypercorn:
    """``async with plain_hypercorn(app, **config) as url:`` serves app on a free port."""
    return serve_plain_hypercorn

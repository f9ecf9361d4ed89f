"""The trio_ws pytest plugin: the ``trio_ws_server`` fixture.

Registered through the ``pytest11`` entry point, so installing trio_ws makes the fixture
available; it needs pytest-trio (tests run as trio tests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Unpack

import pytest
import trio

from ._server import serve_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from .._serve import ServerSettings
    from .._types import ASGIApp

__all__ = ["ServerStarter", "trio_ws_server"]


class ServerStarter(Protocol):
    """The ``trio_ws_server`` fixture's value: ``url = await trio_ws_server(app, **settings)``."""

    async def __call__(
        self, app: ASGIApp, *, shutdown_close_code: int = ..., **settings: Unpack[ServerSettings]
    ) -> str: ...


@pytest.fixture
async def trio_ws_server() -> AsyncIterator[ServerStarter]:
    """Start real servers for a test: ``url = await trio_ws_server(app)``.

    Each call serves ``app`` with `trio_ws.testing.serve_app` on 127.0.0.1 and returns its
    ``ws://`` URL. At teardown every server shuts down gracefully, and the exceptions the
    applications raised while served fail the test (as an `ExceptionGroup`).
    """
    errors: list[Exception] = []

    async def run(
        app: ASGIApp,
        stop: trio.Event,
        kwargs: dict[str, Any],
        *,
        task_status: trio.TaskStatus[str],
    ) -> None:
        try:
            async with serve_app(app, **kwargs) as url:
                task_status.started(url)
                await stop.wait()
        except Exception as error:  # the app's errors, raised by serve_app at exit
            errors.append(error)

    stops: list[trio.Event] = []
    async with trio.open_nursery() as nursery:

        async def start(app: ASGIApp, **kwargs: Any) -> str:
            stop = trio.Event()
            stops.append(stop)
            url: str = await nursery.start(run, app, stop, kwargs)
            return url

        try:
            yield start
        finally:
            for stop in stops:
                stop.set()
    if errors:
        raise ExceptionGroup("applications served by trio_ws_server raised", errors)

"""A lifespan startup that fails is reported as one error, before anything says "serving".

hypercorn's ``Lifespan`` turns ``lifespan.startup.failed`` into ``LifespanFailureError`` raised
in the lifespan task, while it also sets the startup event that the server waits on: the
server then went on to listen (and log "serving on ...") before the failure tore everything
down as a nested exception group carrying the application's whole traceback as text.
`ReportingLifespan` records the failure when the application reports it, and
`LifespanStartupError` carries one line: the application's exception (type and message) when
it failed by raising, or the message it sent.

hypercorn internals relied on (0.18): ``Lifespan.asgi_send`` receives every message the
application sends and raises ``LifespanFailureError`` on ``lifespan.startup.failed``;
``Lifespan.handle_lifespan`` runs the application. Pinned by the lifespan tests of
``tests/production/test_cli.py`` (one line, before anything says "serving").
"""

from __future__ import annotations

import sys
from typing import Any, final

import trio
from hypercorn.utils import LifespanFailureError

from ._serve_hypercorn import Lifespan

__all__ = ["LifespanStartupError", "ReportingLifespan", "single_startup_error"]


class LifespanStartupError(LifespanFailureError):
    """The application's lifespan startup failed; ``str()`` says why in one line."""

    def __init__(self, cause: str) -> None:
        Exception.__init__(self, f"the application's lifespan startup failed: {cause}")


def _describe(message: object) -> str:
    """The failing exception (``Type: message``) if we are inside its handler, else the last
    line of the text the application sent (Starlette sends a formatted traceback)."""
    error = sys.exception()
    if error is not None and not isinstance(error, LifespanFailureError):
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]
        text = str(error).strip().replace("\n", " ")
        return f"{type(error).__name__}: {text}" if text else type(error).__name__
    lines = [line.strip() for line in str(message or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no reason given"


@final
class ReportingLifespan(Lifespan):
    """hypercorn's ``Lifespan`` that keeps a startup failure for `raise_if_startup_failed`."""

    startup_failure: LifespanStartupError | None = None

    async def asgi_send(self, message: Any) -> None:
        if message.get("type") == "lifespan.startup.failed" and self.startup_failure is None:
            self.startup_failure = LifespanStartupError(_describe(message.get("message")))
        await super().asgi_send(message)

    async def handle_lifespan(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            await super().handle_lifespan(task_status=task_status)
        except BaseException:
            if self.startup_failure is None:
                raise
            # Reported once, by raise_if_startup_failed in the server's own task.

    def raise_if_startup_failed(self) -> None:
        """Raise the startup failure, if there was one.

        Raises:
          LifespanStartupError: the application reported ``lifespan.startup.failed``.
        """
        if self.startup_failure is not None:
            raise self.startup_failure


def single_startup_error(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The `LifespanStartupError` a group holds, if it holds nothing else."""
    leaves: list[BaseException] = []

    def collect(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                collect(inner)
        else:
            leaves.append(error)

    collect(group)
    failures = [leaf for leaf in leaves if isinstance(leaf, LifespanStartupError)]
    others = [
        leaf for leaf in leaves if not isinstance(leaf, (LifespanStartupError, trio.Cancelled))
    ]
    return failures[0] if failures and not others else None

"""One clear sentence when trio_ws code finds itself outside Trio.

trio_ws runs on Trio only. Without these checks, asyncio users meet the failure somewhere deep
(`UnboundLocalError` in a nursery that was never opened, a bare
``RuntimeError: no running event loop`` from an asyncio call inside a handler).
"""

from __future__ import annotations

from typing import Final

import trio

__all__ = ["ASYNCIO_IN_HANDLER", "explain_asyncio_error", "require_trio"]

#: Added to a ``RuntimeError: no running event loop`` raised inside a trio_ws handler.
ASYNCIO_IN_HANDLER: Final = (
    "trio_ws: this handler runs on Trio, where asyncio code (asyncio.sleep, "
    "asyncio.create_task, asyncio.get_running_loop, an asyncio-only client library) finds no "
    "event loop. Use Trio's equivalent (trio.sleep, ws.start_soon / a nursery), a library that "
    "supports Trio (through anyio), or run the blocking part with trio.to_thread.run_sync."
)


def require_trio(what: str) -> None:
    """Raise one readable ``RuntimeError`` unless this code runs in a Trio task.

    Raises:
      RuntimeError: not inside ``trio.run`` (for example under plain ``hypercorn`` without
        ``--worker-class trio``, or under uvicorn).
    """
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        raise RuntimeError(
            f"{what} needs Trio, but this code is not running in a Trio task: serve the "
            "application with `python -m trio_ws`, `trio_ws.serve` or "
            "`hypercorn --worker-class trio`"
        ) from None


def explain_asyncio_error(error: BaseException) -> None:
    """Add `ASYNCIO_IN_HANDLER` as a note to an asyncio "no running event loop" error."""
    if (
        isinstance(error, RuntimeError)
        and "no running event loop" in str(error)
        and ASYNCIO_IN_HANDLER not in getattr(error, "__notes__", ())
    ):
        error.add_note(ASYNCIO_IN_HANDLER)

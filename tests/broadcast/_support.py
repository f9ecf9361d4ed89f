"""Helpers of the broadcast tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import Callable


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll ``predicate`` until it holds, for at most 5 s.

    Polling, not an event: what it watches (Redis, another process, a server's handler) has
    no event to wait on.
    """
    with trio.fail_after(5):
        while not predicate():  # noqa: ASYNC110
            await trio.sleep(0.01)

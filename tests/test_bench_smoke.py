"""The benchmark harness still runs: every variant echoes, streams and sinks correctly.

A correctness check of ``bench.inprocess`` for a handful of messages; no timing is asserted.
Variants whose trio_ws code is not on this branch yet are reported as unavailable, not failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests._time_bound import time_bound

if TYPE_CHECKING:
    from bench.apps import Message, Receive, Scope, Send

inprocess = pytest.importorskip("bench.inprocess")
pytest.importorskip("starlette")


def test_every_available_variant_serves_every_workload_correctly() -> None:
    """raw, Starlette and the trio_ws modes that exist echo, stream and sink 20 messages."""
    with time_bound(60):
        status = inprocess.smoke(n=20)
    assert status["raw"] == "ok"
    assert status["starlette"] == "ok"
    for variant in ("direct", "structured"):
        assert status[variant] == "ok" or status[variant].startswith("n/a"), status


def test_a_variant_that_mangles_a_message_is_caught() -> None:
    """The harness notices an application that echoes something other than what it got."""

    async def mangling(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        seen = 0
        while True:
            message: Message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            seen += 1
            text = "mangled" if seen == 3 else message["text"]
            await send({"type": "websocket.send", "text": text})

    import trio

    with pytest.raises(ExceptionGroup) as info, time_bound(30):
        trio.run(inprocess.drive, mangling, "pingpong", "text", 5)
    assert info.group_contains(inprocess.EchoMismatch)

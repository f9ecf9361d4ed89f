"""Who reads from the server under real traffic patterns: pump task starts per message.

Counted with a trio Instrument (tasks spawned whose name says "receive pump"), on the
autojump clock so that timing is exact and the test fast.
"""

from __future__ import annotations

from typing import Any

import trio
import trio.lowlevel
import trio.testing

from trio_ws import WebSocket
from trio_ws._reader import MAX_TAKEOVER_DELAY, TAKEOVER_DELAY
from trio_ws.testing import connect


class PumpStarts(trio.abc.Instrument):
    def __init__(self) -> None:
        self.count = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        if "receive pump" in task.name:
            self.count += 1


async def chat_like(messages: int, gap: float) -> int:
    """A handler that echoes; the client sends one message every ``gap`` seconds."""
    starts = PumpStarts()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async with WebSocket(scope, receive, send) as ws:
            await ws.accept()
            async for text in ws.iter_text():
                await ws.send_text(text)

    trio.lowlevel.add_instrument(starts)
    try:
        async with connect(app) as client:
            for i in range(messages):
                await client.send_text(str(i))
                assert await client.receive_text() == str(i)
                await trio.sleep(gap)
    finally:
        trio.lowlevel.remove_instrument(starts)
    return starts.count


async def test_chat_like_traffic_does_not_restart_the_pump_per_message(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A message every 100 ms: the pump is started a handful of times, not once per message."""
    with trio.fail_after(60):
        starts = await chat_like(100, 0.1)
    assert starts <= 3, starts


async def test_an_idle_connection_holds_no_pump_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """After a long silence the pump has left; a message later brings it back once."""
    spawned = PumpStarts()
    alive: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async with WebSocket(scope, receive, send) as ws:
            await ws.accept()
            async for text in ws.iter_text():
                await ws.send_text(text)

    def pumps_alive() -> int:
        root = trio.lowlevel.current_root_task()
        assert root is not None
        count = 0
        stack = [root]
        while stack:
            task = stack.pop()
            count += "receive pump" in task.name
            for nursery in task.child_nurseries:
                stack.extend(nursery.child_tasks)
        return count

    trio.lowlevel.add_instrument(spawned)
    try:
        with trio.fail_after(600):
            async with connect(app) as client:
                await client.send_text("hello")
                assert await client.receive_text() == "hello"
                await trio.sleep(300)
                alive.append(pumps_alive())
                await client.send_text("again")
                assert await client.receive_text() == "again"
    finally:
        trio.lowlevel.remove_instrument(spawned)
    assert alive == [0]


async def _takeover_after(round_trips: int, gap: float, pause: float = 0.0) -> float:
    """``round_trips`` echoes ``gap`` seconds apart (the handler pausing ``pause`` seconds
    after each before it receives again), then the handler only sends (every
    10 ms) while the client sends one more message: how long until the pump has read that
    message into the buffer (seconds after the handler turned to sending)."""
    took: list[float] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async with WebSocket(scope, receive, send) as ws:
            await ws.accept()
            for _ in range(round_trips):
                await ws.send_text(await ws.receive_text())
                await trio.sleep(pause)
            start = trio.current_time()
            while ws.statistics().inbound_buffered == 0:  # bounded by the test's fail_after
                await ws.send_text("tick")
                await trio.sleep(0.01)
            took.append(trio.current_time() - start)
            assert await ws.receive_text() == "late"

    async with connect(app) as client:
        for i in range(round_trips):
            await client.send_text(str(i))
            assert await client.receive_text() == str(i)
            await trio.sleep(gap)
        await client.send_text("late")
        await client.wait_app_finished()
    return took[0]


async def test_the_pump_takes_over_after_its_timer_was_moved_many_times(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The pump keeps one cancel scope for its timed waits and moves its deadline: 200 round
    trips 2 ms apart wake it (its deadline moves earlier, then later again) and let its
    deadline fire (a new timer). When the handler then only sends, the pump still takes over
    in time: a message the client sends is read within ``MAX_TAKEOVER_DELAY`` (plus a send
    period), not later and not never."""
    with trio.fail_after(60):
        took = await _takeover_after(200, 0.002)
    assert took <= MAX_TAKEOVER_DELAY + 0.02, took


async def test_the_pump_takes_over_promptly_when_its_timer_fired_each_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A handler that pauses 60 ms after each echo (longer than ``TAKEOVER_DELAY``): the
    pump's deadline fires at each takeover check and the pump reads for the handler, with a
    new timer each time; when the handler then only sends, the pump reads the client's next
    message after ``TAKEOVER_DELAY`` (it took over at the last check, so its delay is the
    short one)."""
    with trio.fail_after(60):
        took = await _takeover_after(30, 0.0, pause=0.06)
    assert took <= TAKEOVER_DELAY + 0.02, took

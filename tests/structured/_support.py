"""Helpers of the structured-mode tests."""

from __future__ import annotations

import trio
import trio.lowlevel

from trio_ws import WebSocket, WebSocketDisconnect


class PumpSteps(trio.abc.Instrument):
    """Counts the steps of receive pump tasks (each one a wake of the pump)."""

    def __init__(self) -> None:
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task.name.startswith("trio_ws receive pump"):
            self.steps += 1


async def send_until_disconnect(ws: WebSocket, period: float) -> None:
    """Send ``"tick"`` every ``period`` seconds, never receiving, until the client leaves
    (which only the receive pump can notice)."""
    try:
        with ws.cancel_on_disconnect():
            while True:
                await ws.send_text("tick")
                await trio.sleep(period)
    except WebSocketDisconnect:
        pass  # the send noticed first; otherwise the scope was cancelled

"""``PublishBatcher``: concurrent publishes share round trips to Redis.

A publish with nothing else in flight is sent at once, by its own task. Publishes that arrive
while a send is in flight wait in a queue; when the send is done, the batcher's task sends
everything queued in one pipeline (one round trip), and each waiting publish learns the result
of its own command: accepted, or the error that refused it. One task publishing in a loop
therefore pays one round trip per message, as before; a hundred tasks publishing at once pay a
handful.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

import attrs
import trio

from ._exceptions import BroadcastUnavailable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

__all__ = ["PublishBatcher"]

#: The most publishes sent in one pipeline.
MAX_BATCH = 512


def _closing() -> BroadcastUnavailable:
    return BroadcastUnavailable("the broadcast is closing: the message was not published")


@attrs.define(eq=False)
class _Pending:
    channel: str
    payload: bytes
    done: trio.Event = attrs.field(factory=trio.Event)
    error: BaseException | None = None


@final
class PublishBatcher:
    """Sends ``(channel, payload)`` publishes one by one, or in batches when they queue up.

    ``send_one(channel, payload)`` sends one publish; ``send_many(items)`` sends several and
    returns, for each, ``None`` or the exception that refused it (an exception it raises
    refuses them all).
    """

    def __init__(
        self,
        send_one: Callable[[str, bytes], Awaitable[None]],
        send_many: Callable[[Sequence[tuple[str, bytes]]], Awaitable[list[BaseException | None]]],
    ) -> None:
        self._send_one = send_one
        self._send_many = send_many
        self._in_flight = 0
        self._queue: list[_Pending] = []
        self._work = trio.Event()
        self._closed = False

    def close(self) -> None:
        """End `run` (publishes still queued are refused with `BroadcastUnavailable`)."""
        self._closed = True
        self._work.set()

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The batcher's task: send what queued up while another send was in flight.

        Cancellation:
          Publishes still queued are refused with `BroadcastUnavailable`.
        """
        task_status.started()
        try:
            while not self._closed:
                await self._work.wait()
                self._work = trio.Event()
                while self._queue and not self._in_flight:
                    batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                    await self._send_batch(batch)
        finally:
            for pending in self._queue:
                pending.error = _closing()
                pending.done.set()
            self._queue = []

    async def publish(self, channel: str, payload: bytes) -> None:
        """Send one publish (alone, or in the next batch if a send is in flight).

        Raises:
          Whatever refused this publish.

        Cancellation:
          If cancelled while queued, the publish may still be sent with the next batch.
        """
        if not self._in_flight and not self._queue:
            self._in_flight += 1
            try:
                await self._send_one(channel, payload)
            finally:
                self._in_flight -= 1
                if self._queue:
                    self._work.set()
            return
        pending = _Pending(channel, payload)
        self._queue.append(pending)
        await pending.done.wait()
        if pending.error is not None:
            raise pending.error

    async def _send_batch(self, batch: list[_Pending]) -> None:
        self._in_flight += 1
        try:
            results = await self._send_many([(p.channel, p.payload) for p in batch])
        except BaseException as error:
            results = [error] * len(batch)
            if not isinstance(error, Exception):
                for pending in batch:
                    pending.error = _closing()
                    pending.done.set()
                raise
        finally:
            self._in_flight -= 1
        for pending, result in zip(batch, results, strict=True):
            pending.error = result
            pending.done.set()

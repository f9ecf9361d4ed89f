"""``Publisher``: one sequential publisher's window of pipelined publishes.

``await broadcast.publish(...)`` returns once Redis has accepted the message, so a task that
publishes in a loop pays one round trip per message. A `Publisher` (from
``Broadcast.publisher()``) lets that task go on while its messages are on their way: its
``publish`` returns once the message is queued in a window of at most ``max_in_flight``
messages; a sender task writes everything queued in one batch per round trip (a pipeline on
Redis), in order, and checks every message's own answer. A refused message is reported by the
next call, by ``flush`` or at the end of the block, as `PublishRefused` listing every message
that was not published: none is lost silently.

The sender runs in the Broadcast's nursery (a context manager must not yield inside a nursery
of its own); `open_publisher` is the body of ``Broadcast.publisher``.
"""

from __future__ import annotations

import contextlib
import json
from collections import deque
from typing import TYPE_CHECKING, Any, final

import attrs
import trio

from ._exceptions import PublishRefused

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

__all__ = ["Publisher", "PublisherStatistics", "open_publisher"]

#: A batch waits for more messages (one scheduler pass at a time) while it is smaller.
GATHER_UP_TO = 128
#: One publish: ``(channel, message)``.
Item = tuple[str, str | bytes]


@attrs.frozen
class PublisherStatistics:
    """A `Publisher`'s counts, from `Publisher.statistics()`.

    Attributes:
      queued: messages in the window waiting to be sent.
      in_flight: messages in the window sent and not answered yet.
      max_in_flight: the size of the window (``queued + in_flight`` never exceeds it).
      accepted: messages the backend accepted.
      refused: messages the backend refused, or that the closing broadcast did not send (each
        reported once by a `PublishRefused`; the own message of a ``publish`` call that
        raised it is not counted: it was never queued).
      abandoned: messages of a cancelled block: those never sent, and those of the batch being
        sent when it was cancelled (which may or may not have been published).
    """

    queued: int
    in_flight: int
    max_in_flight: int
    accepted: int
    refused: int
    abandoned: int


def _shown(message: str | bytes) -> str:
    text = repr(message)
    return text if len(text) <= 60 else text[:56] + "..." + text[-1]


def _refusal(refused: list[Item], cause: Exception | None, own: bool) -> PublishRefused:
    channel, message = refused[0]
    why = f"{type(cause).__name__}: {cause}" if cause is not None else "the broadcast closed"
    tail = " (the last is this call's own message, not queued)" if own else ""
    return PublishRefused(
        f"{len(refused)} message(s) were not published{tail}; the first, to {channel!r}, "
        f"{_shown(message)}, was refused: {why}",
        tuple(refused),
    )


@final
class Publisher:
    """A window of pipelined publishes for one sequential publisher (one socket's loop).

    Made by `Broadcast.publisher`; valid inside its block. Messages reach each channel in
    the order of the ``publish`` calls. Meant for one task; tasks sharing it keep the order of
    their own messages.
    """

    def __init__(
        self,
        send_many: Callable[[Sequence[Item]], Awaitable[list[Exception | None]]],
        max_in_flight: int,
        check: Callable[[str, str | bytes], None],
    ) -> None:
        self._send_many = send_many
        self._max_in_flight = max_in_flight
        self._check = check
        self._queue: deque[Item] = deque()
        self._in_flight = 0
        self._work = trio.Event()  # set when the sender has something to do
        self._answered = trio.Event()  # set (then replaced) when a batch is answered
        self._refused: list[Item] = []  # not reported yet
        self._cause: Exception | None = None  # what refused the first of them
        self._accepted = 0
        self._refused_count = 0
        self._abandoned = 0
        self._open = True
        self._broadcast_closed = False
        self._sender_scope = trio.CancelScope()

    def __repr__(self) -> str:
        s = self.statistics()
        return (
            f"<Publisher window {s.queued + s.in_flight}/{s.max_in_flight}, "
            f"accepted {s.accepted}, refused {s.refused}>"
        )

    def statistics(self) -> PublisherStatistics:
        """This publisher's counts (see `PublisherStatistics`)."""
        return PublisherStatistics(
            queued=len(self._queue),
            in_flight=self._in_flight,
            max_in_flight=self._max_in_flight,
            accepted=self._accepted,
            refused=self._refused_count,
            abandoned=self._abandoned,
        )

    # ------------------------------------------------------------------ the user's side

    async def publish(self, channel: str, message: str | bytes) -> None:
        """Queue ``message`` for ``channel``; return once it is in the window.

        Waits only while the window holds ``max_in_flight`` messages (backpressure). The
        message is sent after every message queued before it, with those queued meanwhile
        (one round trip for the lot). Its outcome comes later: if it is refused, the next
        call, `flush` or the end of the block raises `PublishRefused` naming it.

        Raises:
          PublishRefused: messages queued earlier were refused. They are listed in its
            ``refused``, followed by this call's own message, which was not queued (it was
            not published either).
          TypeError: ``channel`` is not a non-empty str, or ``message`` not ``str``/``bytes``.
          RuntimeError: outside the publisher's block.

        Cancellation:
          A cancelled call has not queued its message: it will not be published. Messages
          queued by earlier calls are not affected.
        """
        self._check(channel, message)
        self._raise_refused((channel, message))
        await trio.lowlevel.checkpoint()
        while len(self._queue) + self._in_flight >= self._max_in_flight:
            await self._next_answer()
            self._raise_refused((channel, message))
        self._raise_refused((channel, message))  # refused or closed while we yielded
        self._queue.append((channel, message))
        self._work.set()

    async def publish_json(self, channel: str, data: Any) -> None:
        """Queue ``data`` encoded as compact JSON text (read it back with ``event.json()``).

        Raises:
          TypeError, ValueError: ``data`` cannot be encoded as JSON; and as `publish`.

        Cancellation:
          As `publish`.
        """
        await self.publish(channel, json.dumps(data, separators=(",", ":"), ensure_ascii=False))

    async def flush(self) -> None:
        """Wait until the window is empty: every message queued so far has its answer.

        Raises:
          PublishRefused: messages were refused (reported all at once, after the wait).
          RuntimeError: outside the publisher's block.

        Cancellation:
          Only the wait is cancelled: the messages stay in the window, and a refusal is
          reported by the next call.
        """
        if not self._open:
            self._raise_refused(None)
        await self._wait_answered()
        self._raise_refused(None)

    async def _wait_answered(self) -> None:
        """Wait until the window is empty (`flush` without the report).

        Cancellation:
          Only the wait is cancelled.
        """
        await trio.lowlevel.checkpoint()
        while self._queue or self._in_flight:
            await self._next_answer()

    def _report_refused(self) -> None:
        """Raise `PublishRefused` for the refusals not reported yet, if any."""
        if self._refused:
            self._raise_refused(None)

    async def _next_answer(self) -> None:
        if self._answered.is_set():
            self._answered = trio.Event()
        await self._answered.wait()

    def _raise_refused(self, own: Item | None) -> None:
        if self._refused:
            refused, self._refused = self._refused, []
            cause, self._cause = self._cause, None
            if own is not None:
                refused.append(own)
            raise _refusal(refused, cause, own is not None) from cause
        if not self._open:
            if self._broadcast_closed and own is not None:
                raise _refusal([own], None, own=True)
            raise RuntimeError("use the Publisher inside `async with broadcast.publisher():`")

    # ------------------------------------------------------------------ the sender task

    async def _run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The sender: write everything queued as one batch per round trip, in order.

        Cancellation:
          Ends at once (see `_abandon`).
        """
        with self._sender_scope:
            task_status.started()
            while self._open or self._queue:
                await self._work.wait()
                self._work = trio.Event()
                while self._queue:
                    await self._gather()
                    batch = list(self._queue)
                    self._queue.clear()
                    self._in_flight = len(batch)
                    await self._send(batch)

    async def _gather(self) -> None:
        """Let a publisher that is still adding messages add them to this batch.

        Yields until the queue did not grow for two passes of the scheduler (Trio runs the
        ready tasks of a pass in random order), up to `GATHER_UP_TO` messages: a batch goes
        out as soon as the publisher pauses (waits for its socket, say), so the latency is
        two passes, and a publisher in a tight loop gets
        batches large enough for their round trip's fixed cost to vanish.
        """
        idle_passes = 0
        while len(self._queue) < GATHER_UP_TO and idle_passes < 2:
            queued = len(self._queue)
            await trio.lowlevel.checkpoint()
            idle_passes = idle_passes + 1 if len(self._queue) == queued else 0

    async def _send(self, batch: list[Item]) -> None:
        try:
            outcomes = await self._send_many(batch)
        except Exception as error:  # refuses the whole batch
            outcomes = [error] * len(batch)
        for item, outcome in zip(batch, outcomes, strict=True):
            if outcome is None:
                self._accepted += 1
                continue
            self._refused_count += 1
            if not self._refused:
                self._cause = outcome
            self._refused.append(item)
        self._in_flight = 0
        self._answered.set()

    # ------------------------------------------------------------------ the block's end

    def _close(self) -> None:
        """No more ``publish`` calls: the sender ends once the window is empty."""
        self._open = False
        self._work.set()

    def _abandon(self) -> None:
        """Stop now (a cancelled block): what was not sent is dropped, the batch being sent
        may or may not be published; both are counted in ``abandoned``."""
        self._open = False
        self._abandoned += len(self._queue) + self._in_flight
        self._queue.clear()
        self._in_flight = 0
        self._sender_scope.cancel()
        self._answered.set()

    def _refuse_remaining(self) -> None:
        """The broadcast is closing under an open block: stop the sender; messages not sent
        yet are refused (reported by the next call or the block's end), and the batch being
        sent may or may not be published (counted in ``abandoned``)."""
        self._open = False
        self._broadcast_closed = True
        if self._queue and not self._refused:
            self._cause = None
        self._refused.extend(self._queue)
        self._refused_count += len(self._queue)
        self._queue.clear()
        self._abandoned += self._in_flight
        self._in_flight = 0
        self._sender_scope.cancel()
        self._answered.set()


@contextlib.asynccontextmanager
async def open_publisher(
    nursery: trio.Nursery,
    send_many: Callable[[Sequence[Item]], Awaitable[list[Exception | None]]],
    max_in_flight: int,
    check: Callable[[str, str | bytes], None],
    publishers: set[Publisher],
) -> AsyncIterator[Publisher]:
    """The body of `Broadcast.publisher` (arguments checked there): the sender runs in
    ``nursery``; ``publishers`` holds the open ones (the Broadcast closes them if it ends)."""
    publisher = Publisher(send_many, max_in_flight, check)
    await nursery.start(publisher._run)
    publishers.add(publisher)
    try:
        yield publisher
    except Exception:
        # the refusals still come out (this error becomes their __context__)
        await _finish(publisher)
        raise
    except BaseException:
        publisher._abandon()
        raise
    else:
        await _finish(publisher)
    finally:
        publishers.discard(publisher)


async def _finish(publisher: Publisher) -> None:
    """Wait for every answer, end the sender, and report what was refused.

    Cancellation:
      `Publisher._abandon`.
    """
    try:
        await publisher._wait_answered()
    except BaseException:
        publisher._abandon()
        raise
    publisher._close()
    publisher._report_refused()

"""``Publisher``'s window on a fake backend: backpressure, order, each refusal reported once,
what the end of the block and cancellation do (``broadcast.publisher()``'s promises; the
real backends are in test_publisher.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from trio_ws import Publisher, PublishRefused
from trio_ws.broadcast._broadcast import _check_message
from trio_ws.broadcast._publisher import open_publisher

from ._support import wait_until

if TYPE_CHECKING:
    from collections.abc import Sequence
    from contextlib import AbstractAsyncContextManager


class FakeBackend:
    """Records every batch; a message "refuse" is refused; ``hold`` keeps batches in flight."""

    def __init__(self) -> None:
        self.batches: list[list[str | bytes]] = []
        self.hold = False
        self.release = trio.Event()

    async def send_many(self, items: Sequence[tuple[str, str | bytes]]) -> list[Exception | None]:
        self.batches.append([message for _, message in items])
        if self.hold:
            await self.release.wait()
        await trio.lowlevel.checkpoint()
        return [ValueError("no") if m == "refuse" else None for _, m in items]

    @property
    def sent(self) -> list[str | bytes]:
        return [message for batch in self.batches for message in batch]


def opened(
    nursery: trio.Nursery, fake: FakeBackend, window: int = 4
) -> AbstractAsyncContextManager[Publisher]:
    return open_publisher(nursery, fake.send_many, window, _check_message, set())


async def publish_in_a_block(
    nursery: trio.Nursery,
    fake: FakeBackend,
    messages: list[str],
    opened_ones: list[Publisher],
    error: Exception | None = None,
) -> None:
    """Publish ``messages`` in one block (then raise ``error``, if any)."""
    async with opened(nursery, fake) as publisher:
        opened_ones.append(publisher)
        for message in messages:
            await publisher.publish("c", message)
        if error is not None:
            raise error


async def test_publish_waits_only_while_the_window_is_full_and_order_is_kept() -> None:
    fake = FakeBackend()
    fake.hold = True
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            async with opened(nursery, fake, window=3) as publisher:
                for n in range(3):
                    await publisher.publish("c", f"m{n}")  # returns at once: in the window
                blocked = trio.Event()

                async def fourth() -> None:
                    await publisher.publish("c", "m3")
                    blocked.set()

                nursery.start_soon(fourth)
                await trio.testing.wait_all_tasks_blocked()
                assert not blocked.is_set()  # the window is full: backpressure
                stats = publisher.statistics()
                assert stats.queued + stats.in_flight == stats.max_in_flight == 3
                fake.release.set()
                await blocked.wait()
            assert fake.sent == ["m0", "m1", "m2", "m3"]
            assert publisher.statistics().accepted == 4


async def test_a_cancelled_publish_that_waits_for_room_queues_nothing() -> None:
    fake = FakeBackend()
    fake.hold = True
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery, opened(nursery, fake, window=1) as publisher:
            await publisher.publish("c", "first")
            with trio.move_on_after(0.05) as waiting:
                await publisher.publish("c", "cancelled")
            assert waiting.cancelled_caught
            fake.release.set()
            await publisher.flush()
    assert fake.sent == ["first"]


async def test_a_refusal_is_raised_once_by_the_next_call_with_that_calls_own_message() -> None:
    fake = FakeBackend()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery, opened(nursery, fake) as publisher:
            await publisher.publish("c", "ok")
            await publisher.publish("c", "refuse")
            await wait_until(lambda: publisher.statistics().refused == 1)
            with pytest.raises(PublishRefused) as raised:
                await publisher.publish("c", "next")
            assert raised.value.refused == (("c", "refuse"), ("c", "next"))
            assert isinstance(raised.value.__cause__, ValueError)
            assert "'refuse'" in str(raised.value)
            assert raised.value.code == 1011  # closes a handler's socket as unavailable
            await publisher.publish("c", "after")  # reported once: goes on
    assert fake.sent == ["ok", "refuse", "after"]  # "next" was not queued


async def test_the_end_of_the_block_waits_for_every_answer_and_reports_refusals() -> None:
    fake = FakeBackend()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            publishers: list[Publisher] = []
            with pytest.raises(PublishRefused) as raised:
                await publish_in_a_block(nursery, fake, ["a", "refuse", "b"], publishers)
            assert raised.value.refused == (("c", "refuse"),)
            publisher = publishers[0]
            assert publisher.statistics().accepted == 2
            with pytest.raises(RuntimeError, match="inside"):
                await publisher.publish("c", "late")


async def test_flush_waits_then_reports() -> None:
    fake = FakeBackend()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery, opened(nursery, fake) as publisher:
            await publisher.publish("c", "refuse")
            await publisher.publish("c", "x")
            with pytest.raises(PublishRefused) as raised:
                await publisher.flush()
            assert raised.value.refused == (("c", "refuse"),)
            stats = publisher.statistics()
            assert (stats.queued, stats.in_flight, stats.accepted) == (0, 0, 1)
            await publisher.flush()  # nothing left to report


async def test_a_block_that_raises_still_reports_its_refusals_with_the_error_as_context() -> None:
    fake = FakeBackend()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            error = KeyError("the block's own error")
            with pytest.raises(PublishRefused) as raised:
                await publish_in_a_block(nursery, fake, ["refuse"], [], error)
            assert raised.value.__context__ is error
            with pytest.raises(KeyError):  # nothing refused: the block's error as it was
                await publish_in_a_block(nursery, fake, ["fine"], [], error)
            assert fake.sent[-1] == "fine"  # and its messages were still sent


async def test_a_cancelled_block_abandons_what_is_not_answered_and_stops_its_sender() -> None:
    fake = FakeBackend()
    fake.hold = True
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            with trio.CancelScope() as scope:
                async with opened(nursery, fake, window=10) as publisher:
                    for n in range(5):
                        await publisher.publish("c", f"m{n}")
                    await wait_until(lambda: fake.batches != [])
                    scope.cancel()
                    await trio.sleep_forever()
            stats = publisher.statistics()
            assert stats.abandoned == 5
            assert stats.queued == stats.in_flight == stats.accepted == 0
            await trio.testing.wait_all_tasks_blocked()
            assert len(nursery.child_tasks) == 0  # the sender ended


async def test_a_cancelled_final_wait_abandons_too() -> None:
    fake = FakeBackend()
    fake.hold = True
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            with trio.move_on_after(0.05) as scope:
                async with opened(nursery, fake) as publisher:
                    await publisher.publish("c", "m")
            assert scope.cancelled_caught
            assert publisher.statistics().abandoned == 1
            await trio.testing.wait_all_tasks_blocked()
            assert len(nursery.child_tasks) == 0


async def test_bad_arguments_are_refused_at_the_call() -> None:
    fake = FakeBackend()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery, opened(nursery, fake) as publisher:
            with pytest.raises(TypeError, match="channel"):
                await publisher.publish("", "m")
            with pytest.raises(TypeError, match="message"):
                await publisher.publish("c", 3)  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                await publisher.publish_json("c", object())
            await publisher.publish_json("c", {"n": 1})
    assert fake.sent == ['{"n":1}']


async def test_a_tight_loop_gets_batches_not_one_round_trip_per_message() -> None:
    fake = FakeBackend()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery, opened(nursery, fake, window=1000) as publisher:
            for n in range(500):
                await publisher.publish("c", str(n))
    assert fake.sent == [str(n) for n in range(500)]
    assert len(fake.batches) < 50

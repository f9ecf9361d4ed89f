"""Helpers of the broadcast tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import pytest
import trio

from trio_ws import BroadcastGap, BroadcastUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

    from trio_ws import Broadcast, Subscriber

TestFunction = TypeVar("TestFunction", bound="Callable[..., Any]")

#: coredis 6.9 leaves the anyio memory streams of a connection that never connected unclosed
#: (``coredis/connection/_base.py``, made in ``__init__``, closed only by a run that started):
#: every reconnect attempt while a server is down warns when it is collected. Not ours to
#: fix; the outage tests collect them and ignore exactly that warning.
coredis_leaks_streams_of_failed_connections = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <function MemoryObject:pytest.PytestUnraisableExceptionWarning"
)


def task_count() -> int:
    """Tasks alive in this trio run."""

    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(count(child) for n in task.child_nurseries for child in n.child_tasks)

    return count(trio.lowlevel.current_root_task())  # type: ignore[arg-type]


def outage_test(test: TestFunction) -> TestFunction:
    """Mark a test that takes a Redis server or cluster node down: the connections coredis
    leaves behind are collected inside the test (``_collect_garbage``), and exactly their
    warning is ignored (`coredis_leaks_streams_of_failed_connections`)."""
    marked: TestFunction = pytest.mark.usefixtures("_collect_garbage")(
        coredis_leaks_streams_of_failed_connections(test)
    )
    return marked


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll ``predicate`` until it holds, for at most 5 s.

    Polling, not an event: what it watches (Redis, another process, a server's handler) has
    no event to wait on.
    """
    with trio.fail_after(5):
        while not predicate():  # noqa: ASYNC110
            await trio.sleep(0.01)


async def next_message(subscriber: Subscriber) -> str | bytes:
    """The next message, within 20 s (a cluster failover takes a few)."""
    with trio.fail_after(20):
        return (await anext(subscriber)).message


async def assert_round_trip(
    broadcast: Broadcast, subscriber: Subscriber, channel: str, message: str
) -> None:
    """Publish ``message`` on ``channel`` and check it is what ``subscriber`` gets next (the
    subscription is live: before a fault, or healed after one)."""
    await broadcast.publish(channel, message)
    assert await next_message(subscriber) == message


async def publish_retrying(broadcast: Broadcast, channel: str, messages: list[str]) -> list[str]:
    """Publish each of ``messages`` once, skipping those the backend refused (down,
    reconnecting, a slot without an owner for a moment); return the accepted ones, in order."""
    accepted = []
    for message in messages:
        try:
            await broadcast.publish(channel, message)
        except BroadcastUnavailable:
            await trio.sleep(0.03)  # pace the attempts while the backend comes back
            continue
        accepted.append(message)
    return accepted


async def read_after_one_gap(subscriber: Subscriber, count: int) -> list[str | bytes]:
    """Expect exactly one `BroadcastGap`, then return the next ``count`` messages."""
    with pytest.raises(BroadcastGap):
        await next_message(subscriber)
    return [await next_message(subscriber) for _ in range(count)]


async def assert_healed_after_one_gap(
    broadcast: Broadcast,
    subscriber: Subscriber,
    channel: str,
    *,
    published: int = 200,
    at_least: int = 50,
) -> None:
    """Publish ``published`` messages through a fault (skipping refused ones; at least
    ``at_least`` must be accepted), and check that ``subscriber`` gets one `BroadcastGap`,
    then every accepted message in order (the live ones, or the history's replay)."""
    accepted = await publish_retrying(broadcast, channel, [f"m{n}" for n in range(published)])
    assert len(accepted) >= at_least
    assert await read_after_one_gap(subscriber, len(accepted)) == accepted

"""A `Broadcast` on Redis or a cluster cancelled while its ``async with`` exits lets out one
`trio.Cancelled` (or the block's own exception), never an error of the connection that the
cancellation cut, and leaves no task or connection behind.

The cancellation is placed at every point of the exit in turn: in the block, then after 0, 1,
2, ... scheduling steps of the exit, which covers the subscription closing, coredis' pub/sub
cleaning up and the client closing its pool. Before the fix most of these points let out an
``ExceptionGroup`` of coredis' ``ConnectionError("Connection lost while waiting for push
messages")`` or ``anyio.ClosedResourceError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio

from trio_ws import Broadcast

from ._support import next_message, task_count

if TYPE_CHECKING:
    from ._cluster import LocalCluster
    from .conftest import RedisServer

#: In the block (-1), then after that many scheduling steps of the exit.
CANCEL_POINTS = range(-1, 24)


@pytest.fixture(params=["redis", "cluster"])
def target(request: pytest.FixtureRequest) -> RedisServer | LocalCluster:
    """One redis-server or the 3-master cluster (the session's)."""
    name = "redis_server" if request.param == "redis" else "redis_cluster"
    server: RedisServer | LocalCluster = request.getfixturevalue(name)
    return server


def client_connections(target: RedisServer | LocalCluster) -> int:
    """Clients connected to ``target`` (every node of a cluster), less the one asking."""
    nodes = getattr(target, "nodes", [target])
    replies = [node.command("INFO", "clients") for node in nodes]
    return sum(
        int((r.decode() if isinstance(r, bytes) else r).split("connected_clients:")[1].split()[0])
        - 1
        for r in replies
    )


async def settled_connections(target: RedisServer | LocalCluster, expected: int) -> int:
    """The connection count, once it is ``expected`` (a closed socket takes a moment to count)."""
    with trio.move_on_after(5):
        while client_connections(target) != expected:  # noqa: ASYNC110
            await trio.sleep(0.02)
    return client_connections(target)


async def _cancel_after(scope: trio.CancelScope, steps: int) -> None:
    for _ in range(steps):
        await trio.lowlevel.checkpoint()
    scope.cancel()


@pytest.mark.parametrize("cancel_point", CANCEL_POINTS)
async def test_a_cancelled_exit_lets_out_only_the_cancellation(
    target: RedisServer | LocalCluster, cancel_point: int
) -> None:
    connections_before = await settled_connections(target, client_connections(target))
    escaped: BaseException | None = None
    with trio.fail_after(20):
        tasks_before = task_count()
        async with trio.open_nursery() as nursery:
            try:
                async with (
                    Broadcast(target.url, history=10) as broadcast,
                    broadcast.subscribe("room") as room,
                    broadcast.subscribe("hall") as hall,  # (on another master of the cluster)
                    broadcast.track("room", "me", {"at": cancel_point}) as presence,
                ):
                    await broadcast.publish("room", "up")
                    await broadcast.publish("hall", "up")
                    assert await next_message(room) == await next_message(hall) == "up"
                    assert "me" in presence.list()
                    if cancel_point < 0:
                        nursery.cancel_scope.cancel()
                        await trio.lowlevel.checkpoint()
                    nursery.start_soon(_cancel_after, nursery.cancel_scope, cancel_point)
            except BaseException as error:
                escaped = error
                raise
        assert task_count() == tasks_before
    # one clean cancellation, or none if the exit was over before it came
    assert escaped is None or type(escaped) is trio.Cancelled, repr(escaped)
    assert escaped is None or nursery.cancel_scope.cancelled_caught
    assert await settled_connections(target, connections_before) == connections_before


@pytest.mark.parametrize("cancel_point", [-1, 0, 2, 5])
async def test_a_cancelled_exit_lets_out_the_blocks_own_error(
    target: RedisServer | LocalCluster, cancel_point: int
) -> None:
    """An error of the block, then a cancellation of the scope around it during the exit:
    the block's error comes out, alone."""

    class BlockError(Exception):
        pass

    escaped: BaseException | None = None
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            try:
                async with (
                    Broadcast(target.url, history=10) as broadcast,
                    broadcast.subscribe("room") as room,
                ):
                    await broadcast.publish("room", "up")
                    assert await next_message(room) == "up"
                    if cancel_point < 0:
                        nursery.cancel_scope.cancel()
                    else:
                        nursery.start_soon(_cancel_after, nursery.cancel_scope, cancel_point)
                    raise BlockError
            except BaseException as error:  # what came out is the point
                escaped = error
    assert type(escaped) is BlockError, repr(escaped)

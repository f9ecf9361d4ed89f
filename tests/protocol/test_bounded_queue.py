"""The one bounded queue and its overflow policies, synchronously (no event loop)."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_ws import ConnectionOptions
from trio_ws._bounded_queue import (
    OVERFLOW_POLICIES,
    BoundedQueue,
    Offer,
    OverflowPolicy,
    QueueState,
    QueueStatistics,
    check_overflow_policy,
)


def test_block_refuses_when_full_and_takes_again_after_room() -> None:
    queue: BoundedQueue[int] = BoundedQueue(2, "block")
    assert [queue.offer(1), queue.offer(2)] == [Offer.ADDED, Offer.ADDED]
    assert queue.waits_for_room
    assert queue.offer(3) is Offer.FULL
    assert (len(queue), queue.dropped) == (2, 0)
    assert queue.take() == 1
    assert not queue.waits_for_room
    assert queue.offer(3) is Offer.ADDED
    assert queue.take_all() == [2, 3]


def test_drop_oldest_keeps_the_newest_and_counts() -> None:
    queue: BoundedQueue[int] = BoundedQueue(3, "drop_oldest")
    for item in range(10):
        assert queue.offer(item) is Offer.ADDED
    assert not queue.waits_for_room
    assert queue.take_all() == [7, 8, 9]
    assert queue.statistics() == QueueStatistics(
        buffered=0, capacity=3, added=10, taken=0, dropped=7
    )


def test_close_overflows_once_then_drops_and_counts_everything() -> None:
    """What was queued before the overflow stays readable; the rest is counted."""
    queue: BoundedQueue[str] = BoundedQueue(2, "close")
    queue.offer("a")
    queue.offer("b")
    assert queue.offer("c") is Offer.OVERFLOWED
    assert queue.state is QueueState.OVERFLOWED
    assert queue.offer("d") is Offer.DROPPED
    assert queue.dropped == 2
    assert [queue.take(), queue.take()] == ["a", "b"]
    assert queue.offer("e") is Offer.DROPPED  # still overflowed, even with room
    assert queue.dropped == 3


def test_an_ended_queue_refuses_without_counting_and_stays_readable() -> None:
    queue: BoundedQueue[int] = BoundedQueue(1, "drop_oldest")
    queue.offer(1)
    queue.end()
    assert queue.offer(2) is Offer.REFUSED
    assert (queue.dropped, queue.take()) == (0, 1)
    with pytest.raises(IndexError):
        queue.take()


def test_push_ignores_capacity_policy_and_state() -> None:
    """The end of a stream always gets in, even into a full or overflowed queue."""
    queue: BoundedQueue[str] = BoundedQueue(1, "close")
    queue.offer("a")
    queue.offer("b")  # overflows
    queue.push("end")
    assert queue.take_all() == ["a", "end"]


def test_replace_keeps_the_newest_whatever_the_policy() -> None:
    queue: BoundedQueue[int] = BoundedQueue(2, "block")
    queue.replace([1, 2, 3, 4])
    assert (queue.take(), queue.peek(), queue.dropped, queue.taken) == (3, 4, 2, 1)


@pytest.mark.parametrize("bad", ["drop_newest", "", None, "BLOCK", 1])
def test_one_place_validates_a_policy(bad: object) -> None:
    """The queue and ConnectionOptions refuse the same values alike (Broadcast.subscribe
    calls the same check: tests/broadcast)."""
    message = 'must be "block", "drop_oldest" or "close"'
    with pytest.raises(ValueError, match=message):
        check_overflow_policy(bad)
    with pytest.raises(ValueError, match=message):
        BoundedQueue(1, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        ConnectionOptions(overflow=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("capacity", [0, -1, 1.5, True, "2"])
def test_the_capacity_is_an_int_of_at_least_one(capacity: object) -> None:
    with pytest.raises(ValueError, match="buffer must be an int >= 1"):
        BoundedQueue(capacity, "block")  # type: ignore[arg-type]


_OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("offer"), st.integers()),
        st.tuples(st.just("take"), st.none()),
        st.tuples(st.just("push"), st.integers()),
        st.tuples(st.just("end"), st.none()),
    ),
    max_size=60,
)


@given(st.integers(1, 5), st.sampled_from(OVERFLOW_POLICIES), _OPERATIONS)
def test_the_queue_matches_a_plain_model(
    capacity: int, policy: OverflowPolicy, operations: list[tuple[str, int | None]]
) -> None:
    """Against a deque and the policy written out longhand: same content, same counters, and
    nothing is lost without being counted (added = taken + buffered + dropped by drop_oldest)."""
    queue: BoundedQueue[int] = BoundedQueue(capacity, policy)
    model: deque[int] = deque()
    state, dropped, dropped_oldest, taken = "open", 0, 0, 0
    for name, value in operations:
        if name == "offer":
            assert value is not None
            result = queue.offer(value)
            if state == "ended":
                assert result is Offer.REFUSED
            elif state == "overflowed":
                assert result is Offer.DROPPED
                dropped += 1
            elif len(model) < capacity:
                assert result is Offer.ADDED
                model.append(value)
            elif policy == "block":
                assert result is Offer.FULL
            elif policy == "close":
                assert result is Offer.OVERFLOWED
                state, dropped = "overflowed", dropped + 1
            else:
                assert result is Offer.ADDED
                model.popleft()
                model.append(value)
                dropped, dropped_oldest = dropped + 1, dropped_oldest + 1
        elif name == "push":
            assert value is not None
            queue.push(value)
            model.append(value)
        elif name == "take" and model:
            assert queue.take() == model.popleft()
            taken += 1
        elif name == "end":
            queue.end()
            state = "ended"
        assert len(queue) == len(model)
        assert queue.dropped == dropped
        assert queue.taken == taken
        assert queue.added == taken + len(model) + dropped_oldest
    assert queue.take_all() == list(model)

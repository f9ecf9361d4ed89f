"""The keepalive timer: one task for the whole server that looks only at the connections that
are due (in virtual time, on stand-in connections), and the read timeout on a real server."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, cast

import trio
import trio.testing

from trio_ws._engine._connection import EngineSettings
from trio_ws._engine._keepalive import KeepaliveTimer
from trio_ws.testing import serve_app

from ._raw import connect, port_of, upgrade_request

if TYPE_CHECKING:
    from trio_ws._engine._connection import EngineConnection
    from trio_ws._types import Receive, Scope, Send


class StandIn:
    """What the timer reads and calls on an engine connection, recorded."""

    def __init__(self, *, answers: bool = True, reads_on_ping: bool = True) -> None:
        self.open = True
        self.reading = True
        self.reads = 0
        self.reads_seen = 0
        self.idle_since = 0.0
        self.next_ping_at = 0.0
        self.unanswered_since: float | None = None
        self.keepalive_cell: int | None = None
        self.answers = answers
        self.reads_on_ping = reads_on_ping
        self.looks = 0
        self.pings: list[tuple[float, bytes, bytes]] = []
        self.failed_at: float | None = None
        self.aborted_at: float | None = None

    def shed_buffers(self) -> None:
        self.looks += 1

    def ping_now(self, payload: bytes, frame: bytes) -> bool:
        now = trio.current_time()
        self.pings.append((now, payload, frame))
        if self.answers:  # the pong is in at once
            self.unanswered_since = None
            self.reads += self.reads_on_ping
        elif self.unanswered_since is None:
            self.unanswered_since = now
        return True

    async def ping(self, payload: bytes) -> None:
        raise AssertionError("a reading connection is pinged without a task")

    async def fail_keepalive(self) -> None:
        self.failed_at = trio.current_time()
        self.open = False

    def abort(self) -> None:
        self.aborted_at = trio.current_time()
        self.open = False


def _settings(**overrides: Any) -> EngineSettings:
    values: dict[str, Any] = {"max_message_size": 2**20, **overrides}
    return EngineSettings(**values)


async def _run_for(timer: KeepaliveTimer, seconds: float) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(timer.run, nursery)
        await trio.sleep(seconds)
        nursery.cancel_scope.cancel()


async def test_each_connection_is_looked_at_only_when_something_is_due(
    autojump_clock: trio.testing.MockClock,
) -> None:
    timer = KeepaliveTimer(_settings(ping_interval=20.0, ping_timeout=20.0, read_timeout=None))
    connections = [StandIn() for _ in range(200)]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(timer.run, nursery)
        for connection in connections:  # accepted over 2 s
            timer.add(cast("EngineConnection", connection))
            await trio.sleep(0.01)
        await trio.sleep(105.0)
        nursery.cancel_scope.cancel()
    for connection in connections:
        assert len(connection.pings) == 5  # every 20 s for 105 s
        # one look per ping: not one per tick (a walk would have looked 100 times)
        assert connection.looks == 5
        times = [at for at, _payload, _frame in connection.pings]
        assert all(19.99 < later - earlier < 21.01 for earlier, later in itertools.pairwise(times))


async def test_the_pings_of_one_pass_share_one_payload_and_one_frame(
    autojump_clock: trio.testing.MockClock,
) -> None:
    timer = KeepaliveTimer(_settings(ping_interval=1.0, ping_timeout=1.0, read_timeout=None))
    connections = [StandIn() for _ in range(50)]
    for connection in connections:  # accepted together: due together
        timer.add(cast("EngineConnection", connection))
    await _run_for(timer, 2.5)
    first = {(payload, frame) for c in connections for _at, payload, frame in c.pings[:1]}
    second = {(payload, frame) for c in connections for _at, payload, frame in c.pings[1:2]}
    assert len(first) == len(second) == 1
    assert first != second  # a new payload per pass: an old pong does not answer a new ping
    [(payload, frame)] = first
    assert frame == b"\x89\x04" + payload  # websockets' unmasked ping frame


async def test_a_pong_late_by_ping_timeout_fails_the_connection_never_earlier(
    autojump_clock: trio.testing.MockClock,
) -> None:
    timer = KeepaliveTimer(_settings(ping_interval=2.0, ping_timeout=3.0, read_timeout=None))
    silent, answering = StandIn(answers=False), StandIn()
    started = trio.current_time()
    for connection in (silent, answering):
        timer.add(cast("EngineConnection", connection))
    await _run_for(timer, 20.0)
    assert answering.failed_at is None
    assert silent.failed_at is not None
    first_ping = silent.pings[0][0]
    assert first_ping - started == 2.0
    # due 3 s after the unanswered ping, at most one tick (0.5 s) late
    assert 3.0 <= silent.failed_at - first_ping <= 3.5


async def test_a_reading_connection_that_receives_nothing_is_aborted_after_read_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    timer = KeepaliveTimer(_settings(ping_interval=None, ping_timeout=None, read_timeout=8.0))
    quiet, chatty, busy = StandIn(), StandIn(), StandIn()
    busy.reading = False  # the application is not waiting for data: no read timeout
    started = trio.current_time()
    for connection in (quiet, chatty, busy):
        timer.add(cast("EngineConnection", connection))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(timer.run, nursery)
        for _ in range(60):
            await trio.sleep(0.5)
            chatty.reads += 1
        nursery.cancel_scope.cancel()
    assert chatty.aborted_at is None
    assert busy.aborted_at is None
    assert quiet.aborted_at is not None
    # between read_timeout and 1.25 read_timeout, plus one tick (1 s)
    assert 8.0 <= quiet.aborted_at - started <= 11.0


async def test_a_discarded_connection_is_not_looked_at_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    timer = KeepaliveTimer(_settings(ping_interval=1.0, ping_timeout=1.0, read_timeout=None))
    kept, gone = StandIn(), StandIn()
    for connection in (kept, gone):
        timer.add(cast("EngineConnection", connection))
    timer.discard(cast("EngineConnection", gone))
    assert timer.watched == 1
    await _run_for(timer, 5.5)
    assert gone.looks == 0
    assert gone.pings == []
    assert len(kept.pings) == 5


async def test_a_connection_added_while_the_timer_sleeps_is_looked_at_in_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The first connection's next look is 15 s away; a later one with a shorter due time
    # (its read look) must not wait for it.
    timer = KeepaliveTimer(_settings(ping_interval=None, ping_timeout=None, read_timeout=4.0))
    early, late = StandIn(), StandIn()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(timer.run, nursery)
        timer.add(cast("EngineConnection", early))
        await trio.sleep(0.5)
        early.reads += 1  # stays alive
        late_added = trio.current_time()
        timer.add(cast("EngineConnection", late))
        await trio.sleep(10.0)
        nursery.cancel_scope.cancel()
    assert late.aborted_at is not None
    assert 4.0 <= late.aborted_at - late_added <= 5.0 + 1.0


# ---------------------------------------------------------------------- on a real server


def _recording_app(seen: list[Any], done: trio.Event) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        seen.append(await receive())
        done.set()

    return app


async def test_a_client_that_sends_nothing_is_dropped_after_read_timeout() -> None:
    seen: list[Any] = []
    done = trio.Event()
    app = _recording_app(seen, done)
    with trio.fail_after(10):
        async with (
            serve_app(app, ping_interval=None, read_timeout=0.4) as url,
            await connect(port_of(url), upgrade_request()) as client,
        ):
            started = trio.current_time()
            await done.wait()  # only the read timeout ends it: the client stays silent
            elapsed = trio.current_time() - started
            frames = await client.frames_until_eof()
    assert seen[0]["type"] == "websocket.disconnect"
    assert seen[0]["code"] == 1006
    assert seen[0]["trio_ws.closed_by"] == "server"
    assert frames == []  # aborted: no close frame
    # read_timeout, at most a quarter of it (one look) and a tick late, and slack for load
    assert 0.4 <= elapsed < 3

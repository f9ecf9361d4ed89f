"""The chat demo: rooms, presence, guards and limits in memory; its commands over real sockets
(``python -m examples.chat``, and ``python -m trio_ws examples.chat.app:app --workers 2`` with
Redis)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trio
from trio_websocket import connect_websocket_url

import trio_ws
from examples.chat import create_app
from examples.chat.app import CLOSE_CODES, MAX_TEXT
from tests.broadcast import conftest as broadcast_fixtures
from tests.browser._chat_server import chat_workers, server_address
from trio_ws.testing import ConnectionClosed, ConnectionRejected, connect

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.applications import Starlette

    from tests.broadcast.conftest import RedisServer
    from trio_ws.testing import WebSocketTestClient

ROOT = Path(__file__).resolve().parents[2]
redis_server = broadcast_fixtures.redis_server  # the broadcast tests' real redis-server
ORIGIN = {"origin": "http://127.0.0.1:8000"}


@asynccontextmanager
async def chat_app(**options: Any) -> AsyncIterator[Starlette]:
    async with trio_ws.Broadcast() as broadcast:
        yield create_app(broadcast, **options)


@asynccontextmanager
async def member(app: Starlette, name: str, room: str) -> AsyncIterator[WebSocketTestClient]:
    async with connect(app, f"/ws?name={name}&room={room}", headers=ORIGIN) as client:
        welcome = await client.receive_json()
        assert (welcome["type"], welcome["name"], welcome["room"]) == ("welcome", name, room)
        assert welcome["max_text"] == MAX_TEXT
        first = await client.receive_json()
        assert first["type"] == "presence"
        assert {"id": welcome["id"], "name": name} in first["members"]
        assert (first["joined"], first["left"]) == ([], [])
        yield client


def names(event: dict[str, Any], field: str = "members") -> list[str]:
    return [member["name"] for member in event[field]]


async def next_of(client: WebSocketTestClient, kind: str) -> dict[str, Any]:
    """The next event of this kind (presence answers may come in any order)."""
    while True:
        event: dict[str, Any] = await client.receive_json()
        if event["type"] == kind:
            return event


async def drain(client: WebSocketTestClient) -> None:
    """Receive until the connection closes (raises ConnectionClosed)."""
    while True:
        await client.receive_json()


async def test_members_of_a_room_see_the_same_list_and_each_others_messages() -> None:
    """Presence: a newcomer gets the whole list at once, the others a diff with the list."""
    with trio.fail_after(10):
        async with chat_app() as app, member(app, "ann", "lobby") as ann:
            async with member(app, "bob", "lobby") as bob:
                joined = await next_of(ann, "presence")
                assert (names(joined), names(joined, "joined")) == (["ann", "bob"], ["bob"])
                await bob.send_text("hello ann")
                message = await next_of(ann, "message")
                assert (message["name"], message["text"]) == ("bob", "hello ann")
                assert (await next_of(bob, "message"))["text"] == "hello ann"
            left = await next_of(ann, "presence")
            assert (names(left), names(left, "left")) == (["ann"], ["bob"])


async def test_one_name_in_two_tabs_is_listed_twice_and_leaves_once() -> None:
    """Each connection is a member of its own (the same person in two tabs)."""
    with trio.fail_after(10):
        async with chat_app() as app, member(app, "ann", "lobby") as first:
            async with member(app, "ann", "lobby") as second:
                assert names(await next_of(first, "presence")) == ["ann", "ann"]
                await second.send_text("from the second tab")
                assert (await next_of(first, "message"))["text"] == "from the second tab"
            assert names(await next_of(first, "presence")) == ["ann"]


async def test_the_page_explains_exactly_the_close_codes_it_can_receive() -> None:
    """chat.js names the codes of app.CLOSE_CODES, and 1008 never claims a refused Origin."""
    script = (ROOT / "examples" / "chat" / "static" / "chat.js").read_text()
    table = script.split("const CLOSE_MEANINGS = {", 1)[1].split("};", 1)[0]
    codes = {int(code) for code in re.findall(r"^\s*(\d{4}):", table, re.MULTILINE)}
    assert codes == set(CLOSE_CODES)
    meaning_1008 = re.search(r"1008: \"([^\"]*)\"", table)
    assert meaning_1008 is not None
    assert "origin" not in meaning_1008.group(1).lower()
    assert "maxlength" not in (ROOT / "examples" / "chat" / "static" / "index.html").read_text()


async def test_another_room_does_not_see_the_messages() -> None:
    """A message in one room never reaches a member of another room."""
    with trio.fail_after(10):
        async with (
            chat_app() as app,
            member(app, "ann", "lobby") as ann,
            member(app, "eve", "attic") as eve,
        ):
            await ann.send_text("for the lobby")
            assert (await next_of(ann, "message"))["text"] == "for the lobby"
            await eve.send_text("for the attic")
            # eve's own message is the first message she sees: the lobby's never arrived
            assert (await next_of(eve, "message"))["text"] == "for the attic"


async def test_a_page_from_another_origin_is_refused() -> None:
    """The Origin guard answers 403 to a page that is not served from this machine."""
    with trio.fail_after(5):
        async with chat_app() as app:
            with pytest.raises(ConnectionRejected) as refused:
                async with connect(
                    app, "/ws?name=a&room=r", headers={"origin": "https://evil.test"}
                ):
                    pass  # pragma: no cover
    assert refused.value.status_code == 403


async def test_a_missing_name_closes_with_a_reason() -> None:
    """Without a name the socket is closed with 4400 and a reason the page can show."""
    with trio.fail_after(5):
        async with chat_app() as app, connect(app, "/ws?room=r", headers=ORIGIN) as client:
            with pytest.raises(ConnectionClosed) as closed:
                await client.receive_json()
    assert closed.value.code == 4400
    assert "name" in closed.value.reason


async def test_an_oversize_message_closes_with_1009() -> None:
    """The size limit closes a client that sends more than max_message_size bytes."""
    with trio.fail_after(5):
        async with chat_app(max_message_size=64) as app, member(app, "ann", "r") as ann:
            await ann.send_text("x" * 65)
            with pytest.raises(ConnectionClosed) as closed:
                await drain(ann)
    assert closed.value.code == 1009


async def test_a_flooding_client_is_closed_with_1008() -> None:
    """The rate limit closes a client that sends faster than it allows."""
    with trio.fail_after(5):
        async with (
            chat_app(rate_limit=trio_ws.RateLimit(1, 2)) as app,
            member(app, "ann", "r") as ann,
        ):
            for n in range(5):
                await ann.send_text(f"spam {n}")
            with pytest.raises(ConnectionClosed) as closed:
                await drain(ann)
    assert closed.value.code == 1008


async def test_the_command_prints_the_url_serves_the_page_and_stops_on_sigint() -> None:
    """``python -m examples.chat --port 0`` prints the page URL, serves it, and exits on SIGINT."""
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            run_chat = partial(
                trio.run_process,
                [sys.executable, "-m", "examples.chat", "--port", "0"],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                check=False,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            process = await nursery.start(run_chat)
            assert process.stdout is not None
            output = b""
            while b"\n" not in output:
                chunk = await process.stdout.receive_some()
                assert chunk, f"exited before printing the URL: {output!r}"
                output += chunk
            line = output.decode().splitlines()[0]
            url = line.split("open ", 1)[1].split()[0]
            assert url.startswith("http://127.0.0.1:"), line
            assert url.endswith("/"), line
            host, port = url.removeprefix("http://").rstrip("/").split(":")
            stream = await trio.open_tcp_stream(host, int(port))
            async with stream:
                await stream.send_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                page = b""
                while chunk := await stream.receive_some():
                    page += chunk
            assert page.startswith(b"HTTP/1.1 200")
            assert b'<script src="/chat.js">' in page
            process.send_signal(signal.SIGINT)
            assert await process.wait() == 0


async def _join(url: str, origin: str, nursery: trio.Nursery) -> tuple[Any, dict[str, Any]]:
    client = await connect_websocket_url(nursery, url, extra_headers=[("Origin", origin)])
    welcome = json.loads(await client.get_message())
    assert welcome["type"] == "welcome"
    return client, welcome


async def _until_members(client: Any, expected: list[str]) -> dict[str, Any]:
    """The first presence event whose member list is ``expected`` (names)."""
    while True:
        event: dict[str, Any] = json.loads(await client.get_message())
        if event["type"] == "presence" and names(event) == expected:
            return event


async def test_two_workers_on_redis_share_the_member_list_and_a_killed_worker_leaves_it(
    redis_server: RedisServer,
) -> None:
    """``python -m trio_ws examples.chat.app:app --workers 2`` with Redis: members served by
    different workers see one list and each other's messages; the members of a worker killed
    with SIGKILL leave the list within the presence TTL."""
    ttl = 2.0
    with chat_workers(redis_server.url, presence_ttl=ttl) as server, trio.fail_after(60):
        address = await server_address(server)
        origin = f"http://{address}"
        async with trio.open_nursery() as nursery:
            ann, ann_welcome = await _join(f"ws://{address}/ws?name=ann&room=w", origin, nursery)
            for _ in range(40):  # SO_REUSEPORT spreads connections: find the other worker
                bob, bob_welcome = await _join(
                    f"ws://{address}/ws?name=bob&room=w", origin, nursery
                )
                if bob_welcome["worker"] != ann_welcome["worker"]:
                    break
                await bob.aclose()
            else:
                pytest.fail("40 connections all landed on one worker")
            # the newcomer's first list already holds the member of the other worker
            first = json.loads(await bob.get_message())
            assert names(first) == ["ann", "bob"]
            await _until_members(ann, ["ann", "bob"])
            await bob.send_message("across workers")
            while (event := json.loads(await ann.get_message()))["type"] != "message":
                pass
            assert (event["name"], event["text"]) == ("bob", "across workers")

            os.kill(bob_welcome["worker"], signal.SIGKILL)
            killed_at = trio.current_time()
            with trio.fail_after(ttl + 5):
                gone = await _until_members(ann, ["ann"])
            assert names(gone, "left") == ["bob"]
            assert trio.current_time() - killed_at < ttl + 1
            await ann.aclose()
            nursery.cancel_scope.cancel()

"""The chat demo: rooms, presence, guards and limits in memory; its command over a real socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trio

import trio_ws
from examples.chat import create_app
from trio_ws.testing import ConnectionClosed, ConnectionRejected, connect

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.applications import Starlette

    from trio_ws.testing import WebSocketTestClient

ROOT = Path(__file__).resolve().parents[2]
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
        yield client


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


async def test_members_of_a_room_see_each_other_and_their_messages() -> None:
    """Both members learn of each other (join/here) and receive each other's messages."""
    with trio.fail_after(10):
        async with chat_app() as app, member(app, "ann", "lobby") as ann:
            assert (await next_of(ann, "join"))["name"] == "ann"
            async with member(app, "bob", "lobby") as bob:
                assert (await next_of(ann, "join"))["name"] == "bob"
                assert (await next_of(bob, "here"))["name"] == "ann"
                await bob.send_text("hello ann")
                message = await next_of(ann, "message")
                assert (message["name"], message["text"]) == ("bob", "hello ann")
                assert (await next_of(bob, "message"))["text"] == "hello ann"
            assert (await next_of(ann, "leave"))["name"] == "bob"


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
